"""Cross-dataset evaluation (`datasets.<name>.test_on`): models trained on one dataset are tested
on other datasets' test splits, each test set measured and reported on its own.

The config rules are checked on the demo config; then the real snakemake CLI trains on one
`folder` dataset and tests on two others (one of them a test set: a test split only)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_reliability_reruns import planned_jobs
from workflow_runner import run_snakemake

from srloss.cli import grid_summary
from srloss.study import ConfigError, Study, load_yaml
from srloss.weights import weight_path

REPO = Path(__file__).resolve().parents[1]


def _with_test_sets(edit=None) -> dict:
    """The demo config plus two test sets (test splits only) that the demo dataset is tested on,
    edited by ``edit``, with the schema's defaults filled as the workflow sees it."""
    from srloss.study import check_schema

    config = load_yaml(REPO / "config.yaml")
    config["datasets"]["photos"] = {"source": "packaged", "splits": {"test": ["coins", "moon"]}}
    config["datasets"]["faces"] = {"source": "packaged", "splits": {"test": ["astronaut"]}}
    config["datasets"]["demo"]["splits"]["test"] = ["chelsea", "rocket"]
    config["datasets"]["demo"]["test_on"] = ["photos", "faces"]
    if edit is not None:
        edit(config)
    check_schema(config)
    return config


def test_study_grid_with_test_sets():
    study = Study(_with_test_sets())
    assert study.training_datasets() == ["demo"]
    assert study.test_sets("demo") == ["demo", "photos", "faces"]
    runs = study.runs()
    assert {r.dataset for r in runs} == {"demo"}  # nothing is trained on a test set
    cross = study.cross_evaluations()
    assert len(cross) == 2 * len(runs)
    assert {t for _, t in cross} == {"photos", "faces"}
    assert {d for d, _, _ in study.trained_views()} == {"demo"}
    spec = study.evaluation_spec("photos")
    assert spec["test_set"] == "photos"
    # `srloss check`: 26 runs, each also tested on 2 test sets; shards: 3 splits of demo + 2 test sets, x2 scales
    summary = grid_summary(study)
    fetched = sum(not weight_path(b).exists() for b in study.backbones())  # the losses' weights, where not cached
    jobs = "prepare 10, train 24, evaluate 26, evaluate_on 52, aggregate 1, all 1"
    fetch = f"fetch_weight {fetched}, " if fetched else ""
    assert f"jobs: {fetch}{jobs} (total {114 + fetched})" in summary
    assert "tested on: demo -> demo, photos, faces" in summary


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["datasets"]["demo"].update(test_on=["nowhere"]),
            "datasets.demo.test_on: 'nowhere': unknown dataset; valid choices: photos, faces",
        ),
        (
            lambda c: c["datasets"]["demo"].update(test_on=["demo"]),
            "datasets.demo.test_on: 'demo': its own test split is always evaluated",
        ),
        (
            lambda c: c["datasets"]["demo"].update(test_on=["photos"]),
            "datasets.faces.splits: a test split only, but no dataset's test_on names 'faces'",
        ),
        (
            lambda c: c["datasets"]["photos"].update(degradation={"frames": 3}),
            "datasets.demo.test_on: 'photos' has 3 frame(s) per sample and 'demo' has 1",
        ),
        (
            lambda c: c["datasets"]["photos"]["splits"].update(val=["coffee"]),
            "datasets.photos.splits: val is given without train",
        ),
        (
            lambda c: c["datasets"]["faces"].update(test_on=["photos"]),
            "datasets.faces.test_on: 'faces' has a test split only",
        ),
    ],
)
def test_test_on_errors_name_the_key(edit, message):
    with pytest.raises(ConfigError) as err:
        Study(_with_test_sets(edit))
    assert message in str(err.value)


# ----- the real workflow -------------------------------------------------------------------

IMAGES = {
    "a": {"train": ["retina", "rocket"], "val": ["coffee"], "test": ["astronaut", "chelsea"]},
    "b": {"test": ["camera", "coins"]},
    "c": {"train": ["brick"], "val": ["grass"], "test": ["gravel", "moon"]},
}
STUDY = {
    "study": "cross",
    "datasets": {
        name: {"source": "folder", "root": f"images/{name}", "splits": splits, "patch_size": 16, "stride": 48}
        for name, splits in IMAGES.items()
    },
    "models": {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 4, "residual": True}}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}, "mse": {"terms": [{"name": "mse"}]}},
    "scales": [2],
    "training": {"steps": 4, "batch_size": 2, "val_every": 2},
    "evaluation": {"metrics": ["psnr_y", "ssim_y"], "crops": {"images": 1, "size": 16}},
}
STUDY["datasets"]["a"]["test_on"] = ["b", "c"]  # c is trained on too; b is a test set


def _write_images(root: Path) -> None:
    from skimage import data

    for name, splits in IMAGES.items():
        (root / name).mkdir(parents=True)
        for image in (i for split in splits.values() for i in split):
            pixels = getattr(data, image)()
            pixels = np.dstack([pixels] * 3) if pixels.ndim == 2 else pixels
            Image.fromarray(pixels[:96, :128]).save(root / name / f"{image}.png")


@pytest.fixture(scope="module")
def cross(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("cross") / "work"
    work.mkdir()
    _write_images(work / "images")
    result = run_snakemake(work, "--cores", "2", config=STUDY)
    assert result.returncode == 0, result.stderr[-4000:]
    return work


@pytest.mark.integration
def test_trained_on_one_dataset_tested_on_two_others(cross):
    runs = cross / "results/cross/runs"
    # trained on a and c, never on the test set b
    assert sorted(p.name for p in runs.iterdir()) == ["a", "c"]
    for loss in ("l1", "mse"):
        run = runs / f"a/espcn/{loss}/x2/seed0"
        for test_set, images in (("b", IMAGES["b"]["test"]), ("c", IMAGES["c"]["test"])):
            metrics = pd.read_csv(run / "on" / test_set / "metrics.csv")
            assert sorted(metrics["image"]) == images
            assert set(metrics["test_set"]) == {test_set} and set(metrics["dataset"]) == {"a"}
            record = json.loads((run / "on" / test_set / "eval.json").read_text())
            assert record["checkpoint"].endswith(f"a/espcn/{loss}/x2/seed0/model.pt")  # a's weights
        own = pd.read_csv(run / "metrics.csv")
        assert set(own["test_set"]) == {"a"} and sorted(own["image"]) == IMAGES["a"]["test"]
    # the bicubic baseline is measured on every test set too, and c's own runs only on c
    assert (runs / "a/bicubic/none/x2/seed0/on/b/metrics.csv").exists()
    assert not (runs / "c/espcn/l1/x2/seed0/on").exists()


@pytest.mark.integration
def test_each_test_set_has_its_own_statistics(cross):
    tables = cross / "results/cross/tables"
    per_image = pd.read_csv(tables.parent / "tables/per_image.csv")
    trained_on_a = per_image[per_image["dataset"] == "a"]
    assert set(trained_on_a["test_set"]) == {"a", "b", "c"}
    summary = pd.read_csv(tables / "summary.csv")
    rows = summary[(summary["dataset"] == "a") & (summary["loss"] == "l1")]
    assert sorted(rows["test_set"]) == ["a", "b", "c"]
    assert set(rows["n_images"]) == {2}  # per test set, never pooled
    # the same weights score differently on different images: each mean is its own test set's
    means = per_image[(per_image["dataset"] == "a") & (per_image["loss"] == "l1")].groupby("test_set")["psnr_y"].mean()
    for test_set, mean in means.items():
        assert rows.set_index("test_set").loc[test_set, "psnr_y"] == pytest.approx(mean)
    # one table per trained model, a column group per test set (own first); c's table has one group
    markdown = (tables / "a/espcn_x2.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| Loss"))
    assert header.index("a: PSNR Y") < header.index("b: PSNR Y") < header.index("c: PSNR Y")
    assert "colspan" in (tables / "a/espcn_x2.html").read_text()
    assert "b: PSNR Y" not in (tables / "c/espcn_x2.md").read_text()


def _copy(work: Path, tmp_path: Path) -> Path:
    copy_dir = tmp_path / "copy"
    shutil.copytree(work, copy_dir, symlinks=True)
    return copy_dir


@pytest.mark.integration
def test_adding_a_test_set_evaluates_only_that(cross, tmp_path):
    work = _copy(cross, tmp_path)
    study = copy.deepcopy(STUDY)
    study["datasets"]["d"] = {
        "source": "folder",
        "root": "images/b",
        "splits": {"test": ["coins"]},
        "patch_size": 16,
        "stride": 48,
    }
    study["datasets"]["a"]["test_on"] = ["b", "c", "d"]
    result = run_snakemake(work, "-n", config=study)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result.stdout, study="cross")
    on_d = {f"evaluate/a/espcn/{loss}/x2/seed0/on/d" for loss in ("l1", "mse")}
    assert jobs == on_d | {"evaluate/a/bicubic/none/x2/seed0/on/d", "prepare/d/x2/test", "aggregate", "all"}


def test_dry_run_refuses_an_unknown_test_set(tmp_path):
    study = copy.deepcopy(STUDY)
    study["datasets"]["a"]["test_on"] = ["b", "z"]
    _write_images(tmp_path / "images")
    result = run_snakemake(tmp_path, "-n", config=study)
    assert result.returncode != 0
    assert "datasets.a.test_on: 'z': unknown dataset" in result.stderr
    assert not (tmp_path / "results").exists()
