"""Dataset sources on disk: content checks of existing copies, MLFDB layout, config checks."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workflow_runner import run_snakemake

from srloss.data.prepare import prepare
from srloss.data.shards import PatchDataset, read_attrs, read_images
from srloss.data.sources import DatasetError, open_source, split_names
from srloss.data.sources.benchmark import Benchmark
from srloss.data.sources.mlfdb import MLFDB_DOI
from srloss.study import ConfigError, check_config

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)


def _png(path: Path, h: int, w: int, value: int | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8) if value is None else np.full((h, w, 3), value, np.uint8)
    Image.fromarray(img).save(path)
    return img


@pytest.fixture(scope="module")
def div2k(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("div2k")
    for i in range(1, 901):  # validation images large enough for the metrics at x2 (35 px, images.size_problem)
        _png(
            root / ("DIV2K_train_HR" if i <= 800 else "DIV2K_valid_HR") / f"{i:04d}.png",
            *((16, 20) if i <= 800 else (36, 40)),
        )
    return root


def test_existing_div2k_copy_is_checked(div2k, tmp_path):
    spec = {
        "source": "div2k",
        "root": str(div2k),
        "splits": {"train": ["0001-0003"], "val": ["0801"], "test": ["0802", "0803"]},
        "patch_size": 8,
        "stride": 8,
    }
    open_source(spec)  # complete: no error
    assert split_names(spec, "train") == ["0001", "0002", "0003"]
    # a broken copy: one file missing, one unexpected
    broken = tmp_path / "broken"
    (broken / "DIV2K_train_HR").mkdir(parents=True)
    (broken / "DIV2K_valid_HR").mkdir()
    for i in range(1, 801):
        if i != 5:
            (broken / "DIV2K_train_HR" / f"{i:04d}.png").write_bytes(b"")
    (broken / "DIV2K_train_HR" / "0001x2.png").write_bytes(b"")
    with pytest.raises(
        DatasetError,
        match=r"DIV2K_train_HR: expected 800 files 0001.png ... 0800.png; found 800 files: 1 missing \(e.g. "
        r"0005.png\); 1 unexpected \(e.g. 0001x2.png\)",
    ):
        open_source({**spec, "root": str(broken)})
    with pytest.raises(DatasetError, match="folder DIV2K_train_HR/ is missing"):
        open_source({**spec, "root": str(tmp_path / "nowhere")})


def test_prepare_from_div2k_copy(div2k, tmp_path):
    spec = {
        "source": "div2k",
        "root": str(div2k),
        "splits": {"train": ["0001-0003"], "val": ["0801"], "test": ["0802-0803"]},
        "patch_size": 8,
        "stride": 4,
    }
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    prepare(spec, 2, out)
    ds = PatchDataset(out["train"], augment=False)
    assert len(ds) == 3 * 3 * 4  # 16x20 images, 8 px patches every 4 px
    hr0 = np.asarray(Image.open(div2k / "DIV2K_train_HR" / "0001.png"))
    np.testing.assert_array_equal((ds[0][1].numpy() * 255).round().astype(np.uint8), hr0[:8, :8].transpose(2, 0, 1))
    assert [n for n, _, _ in read_images(out["test"])] == ["0802", "0803"]
    assert read_attrs(out["train"])["source"] == "div2k"


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("benchmark")
    for name, count in Benchmark.SETS.items():
        for i in range(count):
            _png(root / name / "HR" / f"img{i:03d}.png", 8, 8, value=i)
    return root


def test_benchmark_copy_sets_and_images(benchmark, tmp_path):
    spec = {
        "source": "benchmark",
        "root": str(benchmark),
        "splits": {"train": ["Urban100"], "val": ["Set5/img001"], "test": ["Set14"]},
    }
    src = open_source(spec)
    assert split_names(spec, "test", src) == [f"Set14/img{i:03d}" for i in range(14)]
    hr, lr = src.load("test", "Set5/img003", 2)
    assert hr[0, 0, 0] == 3 and lr is None  # the LR is made by degradation
    with pytest.raises(DatasetError, match="no image 'baby'"):
        src.expand("test", "Set5/baby")
    with pytest.raises(DatasetError, match="folder Set5/HR/ is missing"):
        open_source({**spec, "root": str(tmp_path)})
    _png(tmp_path / "Set5" / "HR" / "a.png", 4, 4)
    for name in ("Set14", "B100", "Urban100"):
        (tmp_path / name / "HR").mkdir(parents=True)
    with pytest.raises(DatasetError, match="expected 5 images in Set5, found 1"):
        open_source({**spec, "root": str(tmp_path)})


def test_folder_source(tmp_path):
    _png(tmp_path / "imgs" / "a.png", 8, 8)
    _png(tmp_path / "imgs" / "b.jpg", 8, 8)
    src = open_source({"source": "folder", "root": str(tmp_path / "imgs")})
    assert src.load("test", "b", 2)[0].shape == (8, 8, 3)
    with pytest.raises(DatasetError, match=r"imgs: no image named 'c' \(file stem\); found 2 images, e.g. a, b"):
        src.expand("test", "c")
    with pytest.raises(DatasetError, match="image folder does not exist"):
        open_source({"source": "folder", "root": str(tmp_path / "none")})


def _mlfdb(root: Path, n_frames: int = 9, scale: int = 8, lr: int = 4) -> None:
    for split in ("train", "val", "test"):
        for s in range(2):
            seq = root / split / f"seq{s}"
            for f in range(n_frames):
                _png(seq / "lr" / f"{f:03d}.png", lr, lr, value=10 * f + s)
            _png(seq / "hr.png", lr * scale, lr * scale)


def test_mlfdb_layout_and_multi_frame_shards(tmp_path):
    _mlfdb(tmp_path / "db")
    spec = {
        "source": "mlfdb",
        "root": str(tmp_path / "db"),
        "degradation": {"frames": 7},
        "patch_size": 32,
        "stride": 32,
    }
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    prepare(spec, 8, out)
    ds = PatchDataset(out["train"], augment=False)
    assert len(ds) == 2 and ds.frames == 7
    lr, hr = ds[1]
    assert lr.shape == (7, 3, 4, 4) and hr.shape == (3, 32, 32)
    # 9 frames on disk: the 7 centred on the middle one (frames 1..7); reference at index 3 = frame 4
    assert [round(float(lr[t, 0, 0, 0]) * 255) for t in range(7)] == [10 * f + 1 for f in range(1, 8)]
    (name, lr_img, hr_img), _ = read_images(out["test"])
    assert name == "seq0" and lr_img.shape == (7, 3, 4, 4) and hr_img.shape == (3, 32, 32)
    assert read_attrs(out["val"])["frames"] == 7 and read_attrs(out["val"])["degradation"]["frames"] == 7


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda db: __import__("shutil").rmtree(db / "val"), "split folder val/ is missing"),
        (lambda db: (db / "test" / "seq1" / "hr.png").unlink(), "sequence test/seq1 lacks lr/ or hr.png"),
        (
            lambda db: [p.unlink() for p in sorted((db / "train" / "seq0" / "lr").iterdir())[:4]],
            "has 5 frames, fewer than frames=7",
        ),
    ],
)
def test_mlfdb_malformed_is_a_clear_error(tmp_path, damage, match):
    db = tmp_path / "db"
    _mlfdb(db)
    damage(db)
    with pytest.raises(DatasetError, match=match) as err:
        open_source({"source": "mlfdb", "root": str(db), "degradation": {"frames": 7}})
    assert MLFDB_DOI in str(err.value) and "<sequence>/hr.png" in str(err.value)


def test_mlfdb_scale_mismatch_names_sequence(tmp_path):
    _mlfdb(tmp_path / "db", scale=4)
    spec = {
        "source": "mlfdb",
        "root": str(tmp_path / "db"),
        "degradation": {"frames": 7},
        "patch_size": 32,
        "stride": 32,
    }
    with pytest.raises(
        DatasetError, match=r"sequence train/seq0: hr.png is 16x16, expected 32x32 \(frames 4x4 at scale 8\)"
    ):
        prepare(spec, 8, {"train": tmp_path / "t.h5"})
    assert not (tmp_path / "t.h5").exists()


# ----- config checks ---------------------------------------------------------------------

BASE = {
    "study": "s",
    "datasets": {},
    "models": {"srcnn": {"arch": "srcnn", "options": {}}},
    "losses": {"l1": {"terms": [{"name": "l1", "weight": 1.0}]}},
    "scales": [2, 4],
    "seeds": [0],
}
DIV2K_SPLITS = {"train": ["train"], "val": ["0801-0810"], "test": ["0811-0900"]}


@pytest.mark.parametrize(
    "dataset,message",
    [
        ({"source": "mlfdb"}, "datasets.d: source 'mlfdb' needs exactly one of `root`"),
        (
            {"source": "mlfdb", "root": "x", "degradation": {"noise_sigma": 2}},
            "datasets.d.degradation: noise_sigma do not apply to mlfdb",
        ),
        ({"source": "folder", "splits": DIV2K_SPLITS}, "datasets.d.root: source 'folder' needs the folder"),
        ({"source": "div2k"}, "datasets.d.splits: required for source 'div2k'"),
        (
            {"source": "div2k", "splits": {**DIV2K_SPLITS, "val": ["0801-0950"]}},
            "datasets.d.splits.val[0]: DIV2K split entry '0801-0950': images are numbered 0001..0900",
        ),
        ({"source": "div2k", "splits": {**DIV2K_SPLITS, "val": ["0005"]}}, "image '0005' is in both 'train' and 'val'"),
        (
            {"source": "benchmark", "splits": {"train": ["Set6"], "val": ["Set5"], "test": ["B100"]}},
            "datasets.d.splits.train[0]: benchmark split entry 'Set6'",
        ),
        (
            {"source": "skimage", "root": "/data", "splits": DIV2K_SPLITS},
            "datasets.d.root: not used by source 'skimage'; it applies to sources: benchmark, div2k, folder, mlfdb",
        ),
        (
            {"source": "div2k", "archive": "a.zip", "splits": DIV2K_SPLITS},
            "datasets.d.archive: not used by source 'div2k'; it applies to sources: mlfdb",
        ),
    ],
)
def test_dataset_config_errors_name_the_key(dataset, message):
    config = copy.deepcopy(BASE)
    config["datasets"]["d"] = {"patch_size": 48, "stride": 48, **dataset}
    with pytest.raises(ConfigError) as err:
        check_config(config)
    assert message in str(err.value)
    if dataset["source"] == "mlfdb" and "root" not in dataset:
        assert MLFDB_DOI in str(err.value)


def _dry_run(tmp_path: Path, datasets: dict, *args: str) -> str:
    config = {**copy.deepcopy(BASE), "datasets": datasets}
    result = run_snakemake(tmp_path, "-n", "--cores", "1", *args, config=config, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.integration
def test_workflow_fetches_only_what_is_not_on_disk(tmp_path, div2k):
    fetching = _dry_run(tmp_path, {"d": {"source": "div2k", "splits": DIV2K_SPLITS}})
    assert "resources/datasets/div2k/.fetched/DIV2K_train_HR.json" in fetching
    assert "resources/datasets/div2k/.fetched/DIV2K_valid_HR.json" in fetching
    on_disk = _dry_run(tmp_path, {"d": {"source": "div2k", "root": str(div2k), "splits": DIV2K_SPLITS}})
    assert "fetch_archive" not in on_disk and "prepare" in on_disk


@pytest.mark.integration
def test_workflow_unpacks_a_local_archive_and_fetches_from_a_mirror(tmp_path):
    """A source's local `archive` is extracted into resources/datasets/<source>/ before prepare; a
    dataset's `url` makes its source's archives come from that mirror."""
    (tmp_path / "mlfdb.tar").write_bytes(b"")
    datasets = {
        "faces": {"source": "mlfdb", "archive": str(tmp_path / "mlfdb.tar")},
        "d": {"source": "div2k", "url": "https://mirror.example/div2k/", "splits": DIV2K_SPLITS},
    }
    plan = _dry_run(tmp_path, datasets, "-p")
    assert "resources/datasets/mlfdb/.fetched/archive.json" in plan
    assert f"--local --archive {tmp_path / 'mlfdb.tar'} --target resources/datasets/mlfdb " in plan
    assert "--url https://mirror.example/div2k/DIV2K_train_HR.zip" in plan
