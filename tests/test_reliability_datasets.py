"""Reliability class "datasets": an MLFDB sequence with a gap in its frame numbers is refused,
naming the sequence and the missing frame (frames are ordered by number, not by name); a
`folder` dataset's root and image names are checked at config time (real snakemake CLI); two
files with one name, symbolic link loops and empty folders are errors that say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workflow_runner import message_lines, run_snakemake

from srloss.data.prepare import prepare
from srloss.data.shards import read_images
from srloss.data.sources import DatasetError, open_source
from srloss.study import ConfigError
from srloss.study.checks import check_dataset_files


def _png(path: Path, side: int, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), value, np.uint8)).save(path)


def _mlfdb(root: Path, names: list[str], scale: int = 2, lr: int = 20) -> None:
    """Every split holds one sequence `seq0` whose LR frames have these file names (value = 10 x index)."""
    for split in ("train", "val", "test"):
        for i, name in enumerate(names):
            _png(root / split / "seq0" / "lr" / name, lr, 10 * i)
        _png(root / split / "seq0" / "hr.png", lr * scale, 0)


def test_datasets_mlfdb_gap_in_frame_numbers_is_refused(tmp_path):
    names = [f"{n:04d}.png" for n in (1, 2, 3, 5, 6, 7, 8, 9)]  # 0004 is missing: 8 frames, enough for 7
    _mlfdb(tmp_path / "db", names)
    with pytest.raises(
        DatasetError,
        match=r"sequence train/seq0: frame 0004\.png is missing from lr/ \(1 missing between 0001\.png and 0009\.png\)",
    ):
        open_source({"source": "mlfdb", "root": str(tmp_path / "db"), "degradation": {"frames": 7}})


def test_datasets_mlfdb_frames_are_ordered_by_number(tmp_path):
    """frame_2 comes before frame_10 (name order would put it after): the middle frame is frame_5."""
    names = [f"frame_{n}.png" for n in range(1, 10)]
    _mlfdb(tmp_path / "db", names)
    spec = {"source": "mlfdb", "root": str(tmp_path / "db"), "degradation": {"frames": 3}}
    prepare(spec, 2, {"test": tmp_path / "test.h5"})
    ((_, lr, _),) = read_images(tmp_path / "test.h5")
    assert [int(lr[t, 0, 0, 0]) for t in range(3)] == [30, 40, 50]  # frame_4, frame_5, frame_6
    _mlfdb(tmp_path / "dup", ["1.png", "01.png", "2.png"])
    with pytest.raises(
        DatasetError, match=r"sequence train/seq0: frames (01|1)\.png and (01|1)\.png have the same number 1"
    ):
        open_source({"source": "mlfdb", "root": str(tmp_path / "dup"), "degradation": {"frames": 1}})


BASE = {
    "study": "ds",
    "scales": [2],
    "models": {"espcn": {"arch": "espcn"}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}},
}


@pytest.mark.integration
@pytest.mark.parametrize(
    "root, splits, message",
    [
        (
            "nowhere",
            None,
            "config key datasets.mine.root: folder '{tmp}/nowhere' does not exist (relative paths start at the "
            "working directory)",
        ),
        (
            "imgs",
            {"train": ["a"], "val": ["b"], "test": ["lena"]},
            "config key datasets.mine: {tmp}/imgs: no image named 'lena' (file stem); found 3 images, e.g. a, b, c",
        ),
    ],
)
def test_datasets_folder_root_and_names_are_checked_at_config_time(tmp_path, root, splits, message):
    for name in "abc":
        _png(tmp_path / "imgs" / f"{name}.png", 64, 0)
    dataset = {
        "source": "folder",
        "root": str(tmp_path / root),
        "splits": splits or {"train": ["a"], "val": ["b"], "test": ["c"]},
    }
    result = run_snakemake(tmp_path, "-n", "--cores", "1", config={**BASE, "datasets": {"mine": dataset}}, timeout=300)
    assert result.returncode != 0
    lines = message_lines(result.stderr)
    assert lines == ["srloss: config error: " + message.format(tmp=tmp_path)], result.stderr


def _benchmark(root: Path) -> None:
    for name, count in {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100}.items():
        for i in range(count):
            _png(root / name / "HR" / f"img{i:03d}.png", 4, i)


def test_datasets_two_files_with_one_name_are_refused_naming_both(tmp_path):
    """e2.png and e2.jpg: the image name 'e2' would mean either; neither is used silently."""
    for name in ("a.png", "e2.png", "e2.jpg"):
        _png(tmp_path / "imgs" / name, 8, 0)
    with pytest.raises(
        DatasetError,
        match=r"imgs: e2\.jpg and e2\.png have the same name 'e2' \(images are named by file name without "
        r"suffix\); rename or remove one of them",
    ):
        open_source({"source": "folder", "root": str(tmp_path / "imgs")})
    _benchmark(tmp_path / "bench")
    _png(tmp_path / "bench" / "Set14" / "HR" / "img003.jpg", 4, 0)
    with pytest.raises(DatasetError, match=r"Set14/HR: img003\.jpg and img003\.png have the same name 'img003'"):
        open_source({"source": "benchmark", "root": str(tmp_path / "bench")})


def test_datasets_symbolic_link_loops_are_named_as_such(tmp_path):
    images = tmp_path / "imgs"
    for name in "ab":
        _png(images / f"{name}.png", 8, 0)
    (images / "c.png").symlink_to(images / "c.png")  # a file that is a loop
    with pytest.raises(DatasetError, match=rf"^{images}/c\.png: symbolic link loop .*point it at the file"):
        open_source({"source": "folder", "root": str(images)})
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)  # a folder that is a loop, through another link
    with pytest.raises(DatasetError, match=rf"^{tmp_path}/loop2?: symbolic link loop"):
        open_source({"source": "folder", "root": str(loop)})
    with pytest.raises(DatasetError, match=rf"^{tmp_path}/loop2?: symbolic link loop"):
        open_source({"source": "mlfdb", "root": str(loop / "db")})
    config = {
        "scales": [2],
        "datasets": {"mine": {"source": "folder", "root": str(loop), "splits": {"test": ["a"]}, "patch_size": 8}},
    }
    with pytest.raises(ConfigError, match=rf"^config key datasets\.mine: {tmp_path}/loop2?: symbolic link loop"):
        check_dataset_files(config)


def test_datasets_an_empty_folder_says_it_holds_no_images(tmp_path):
    (tmp_path / "imgs").mkdir()
    config = {
        "scales": [2],
        "datasets": {
            "mine": {"source": "folder", "root": str(tmp_path / "imgs"), "splits": {"test": ["a"]}, "patch_size": 8}
        },
    }
    with pytest.raises(ConfigError) as err:
        check_dataset_files(config)
    assert str(err.value) == (
        f"config key datasets.mine: {tmp_path}/imgs: no image named 'a' (file stem); found no images"
    )
    _benchmark(tmp_path / "bench")
    source = open_source({"source": "benchmark", "root": str(tmp_path / "bench")})
    for image in (tmp_path / "bench" / "Set5" / "HR").iterdir():
        image.unlink()
    with pytest.raises(DatasetError, match=r"Set5/HR: no image 'baby'; found no images$"):
        source.expand("test", "Set5/baby")
