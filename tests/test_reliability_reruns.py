"""Reliability class "reruns": the input images drive reruns, and nothing reruns that they do not
shape. A tiny `folder` study is run once through the real snakemake CLI; then each change is
dry-run (`snakemake -n`) in a copy of the working folder and the planned jobs are compared."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from workflow_runner import run_snakemake

IMAGES = {"train": ["retina", "rocket"], "val": ["coffee"], "test": ["astronaut", "chelsea"]}
STUDY = {
    "study": "rel",
    "datasets": {
        "mine": {
            "source": "folder",
            "root": "images",
            "splits": {k: list(v) for k, v in IMAGES.items()},
            "patch_size": 16,
            "stride": 48,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 4}}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}},
    "scales": [2],
    "training": {"steps": 2, "batch_size": 2, "val_every": 2},
}
TRAIN = "train/mine/espcn/l1/x2/seed0"
EVALUATE = {"evaluate/mine/espcn/l1/x2/seed0", "evaluate/mine/bicubic/none/x2/seed0"}
TAIL = {"aggregate", "all"}


def _write_images(folder: Path) -> None:
    from skimage import data

    folder.mkdir()
    loaders = {
        "retina": data.retina,
        "rocket": data.rocket,
        "coffee": data.coffee,
        "astronaut": data.astronaut,
        "chelsea": data.chelsea,
        "camera": lambda: np.dstack([data.camera()] * 3),
    }
    for name, load in loaders.items():  # uncompressed PNG: an edit of the pixels keeps the file's size
        Image.fromarray(load()[:96, :128]).save(folder / f"{name}.png", compress_level=0)


def planned_jobs(stdout: str, study: str = "rel") -> set[str]:
    """Jobs of a `snakemake -n` listing, each named by its log path below results/<study>/logs/."""
    jobs = set()
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", stdout):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if m:
            log = re.search(rf"^\s+log: results/{study}/logs/(\S+)\.log$", block, re.M)
            jobs.add(log.group(1) if log else m.group(1))
    return jobs


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """The study, run to completion once."""
    work = tmp_path_factory.mktemp("reruns") / "work"
    work.mkdir()
    _write_images(work / "images")
    result = run_snakemake(work, "--cores", "2", config=STUDY)
    assert result.returncode == 0, result.stderr[-4000:]
    return work


def _copy(done: Path, tmp_path: Path, name: str = "copy") -> Path:
    """A copy of the finished working folder, timestamps and Snakemake's records included."""
    work = tmp_path / name
    shutil.copytree(done, work, symlinks=True)
    return work


def _plan(work: Path, config: dict | None = None) -> set[str]:
    result = run_snakemake(work, "-n", "--cores", "1", config=config, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return planned_jobs(result.stdout)


def _variant(**datasets_changes) -> dict:
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    config["datasets"]["mine"].update(datasets_changes)
    return config


@pytest.mark.integration
def test_reruns_nothing_changed_plans_nothing(done):
    assert _plan(done) == set()  # the image fingerprint is stable from one parse to the next


@pytest.mark.integration
def test_reruns_overwriting_an_image_reprepares_its_split_and_what_follows(done, tmp_path):
    work = _copy(done, tmp_path)
    image = work / "images/chelsea.png"
    pixels = np.asarray(Image.open(image))
    Image.fromarray(255 - pixels).save(image)  # same name, same size, new content
    assert _plan(work) == {"prepare/mine/x2/test"} | EVALUATE | TAIL
    Image.fromarray(np.asarray(Image.open(work / "images/rocket.png"))[::-1].copy()).save(work / "images/rocket.png")
    assert _plan(work) == {"prepare/mine/x2/test", "prepare/mine/x2/train", TRAIN} | EVALUATE | TAIL


@pytest.mark.integration
def test_reruns_an_image_edited_to_the_same_size_with_its_mtime_restored_reruns_its_split(done, tmp_path):
    """`touch -r` after an in-place edit of the same byte size: the content decides, not the timestamp."""
    work = _copy(done, tmp_path)
    image = work / "images/astronaut.png"
    st = image.stat()
    pixels = np.asarray(Image.open(image)).copy()
    pixels[:8, :8] = 255 - pixels[:8, :8]
    Image.fromarray(pixels).save(image, compress_level=0)
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert image.stat().st_size == st.st_size and image.stat().st_mtime_ns == st.st_mtime_ns
    assert _plan(work) == {"prepare/mine/x2/test"} | EVALUATE | TAIL


@pytest.mark.integration
def test_reruns_a_touched_image_reruns_nothing(done, tmp_path):
    work = _copy(done, tmp_path)
    os.utime(work / "images/rocket.png")  # a new timestamp, the same content
    assert _plan(work) == set()


@pytest.mark.integration
def test_reruns_a_moved_dataset_folder_reached_through_a_symbolic_link_reruns_nothing(done, tmp_path):
    """`root` names where the images lie, not what they are: moved, and reached through a link, the
    same files prepare, train and evaluate nothing again (the aggregation, which records the whole
    config, reruns: tables only)."""
    work = _copy(done, tmp_path)
    (work / "images").rename(work / "photos")
    (work / "link").symlink_to(work / "photos")
    assert _plan(work, _variant(root="link")) == TAIL


@pytest.mark.integration
def test_reruns_images_outside_the_splits_change_nothing(done, tmp_path):
    work = _copy(done, tmp_path)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(work / "images/camera.png")  # in no split
    assert _plan(work) == set()


@pytest.mark.integration
def test_reruns_over_invalidation_editing_the_test_split_retrains_nothing(done, tmp_path):
    work = _copy(done, tmp_path)
    splits = {**STUDY["datasets"]["mine"]["splits"], "test": ["astronaut", "chelsea", "camera"]}
    assert _plan(work, _variant(splits=splits)) == {"prepare/mine/x2/test"} | EVALUATE | TAIL


@pytest.mark.integration
def test_reruns_over_invalidation_patch_size_reprepares_train_only(done, tmp_path):
    work = _copy(done, tmp_path)
    assert (
        _plan(work, _variant(patch_size=32, stride=32))
        == {"prepare/mine/x2/train", TRAIN, "evaluate/mine/espcn/l1/x2/seed0"} | TAIL
    )


@pytest.mark.integration
def test_reruns_execution_only_evaluation_settings_rerun_nothing(done, tmp_path):
    work = _copy(done, tmp_path)
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    config["evaluation"] = {"batch_size": 1, "device": "cpu"}
    assert _plan(work, config) == set()


def _copy_without_timestamps(src: Path, dst: Path) -> None:
    """Copy a tree file by file with fresh timestamps, inputs last (the order `cp -r` may well take)."""
    files = sorted((p for p in src.rglob("*") if p.is_file()), key=lambda p: ("/data/" in str(p), str(p)))
    for path in files:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


@pytest.mark.integration
def test_reruns_copying_results_with_and_without_timestamps(done, tmp_path):
    """What docs/reliability.md says: a copy of results/ that keeps timestamps reruns nothing; one
    that loses them looks out of date to Snakemake (inputs newer than outputs), and
    `snakemake --touch` once marks the copied results up to date again."""
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in ("images", "results", "study.yaml"):
        (shutil.copytree if (done / name).is_dir() else shutil.copy2)(done / name, kept / name)
    assert _plan(kept) == set()  # no .snakemake records needed

    lost = tmp_path / "lost"
    lost.mkdir()
    shutil.copytree(done / "images", lost / "images")
    shutil.copy2(done / "study.yaml", lost / "study.yaml")
    _copy_without_timestamps(done / "results", lost / "results")
    assert TRAIN in _plan(lost)  # Snakemake's mtime rule: a shard newer than the model reruns training
    touched = run_snakemake(lost, "--touch", "--cores", "1", timeout=300)
    assert touched.returncode == 0, touched.stderr[-3000:]
    assert _plan(lost) == set()
    assert (
        subprocess.run(
            [
                "cmp",
                str(done / f"results/rel/runs/{TRAIN[6:]}/model.pt"),
                str(lost / f"results/rel/runs/{TRAIN[6:]}/model.pt"),
            ]
        ).returncode
        == 0
    )  # touched, not retrained
