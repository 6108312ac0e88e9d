"""Reliability class "disk full": a write that does not fit is one line naming the file, the space
left and what was needed, before any library crashes on it; no partial file is left.

Each test mounts a small tmpfs (skipped, with the reason, where mounting is not allowed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_reliability_reruns import STUDY, _write_images
from workflow_runner import run_snakemake

from srloss.atomic import DiskFull, write_text
from srloss.training.checkpoint import save_tensors

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of 512 KiB; yields it and unmounts afterwards."""

    def mount(folder: Path, size: str = "512k") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.decode().strip() or 'not root'})")
        mounted.append(folder)
        return folder

    mounted: list[Path] = []
    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _no_partial_files(folder: Path) -> None:
    assert not [p for p in folder.rglob("*.part")], "a partial file was left behind"


def test_disk_full_a_text_write_names_the_file_and_the_space(small_disk, tmp_path):
    disk = small_disk(tmp_path / "disk")
    with pytest.raises(DiskFull, match=r"big.txt: no space left on the device \(.* free, .* written before it ran"):
        write_text(disk / "big.txt", "x" * (2 << 20))
    assert not (disk / "big.txt").exists()
    _no_partial_files(disk)


def test_disk_full_torch_weights_are_refused_before_writing_with_the_size_needed(small_disk, tmp_path):
    disk = small_disk(tmp_path / "disk")
    weights = {"w": torch.zeros(512, 1024)}  # 2 MiB
    with pytest.raises(DiskFull, match=r"model.pt: no space left on the device \(.* free, 2.0 MiB needed\)"):
        save_tensors(weights, disk / "model.pt")
    _no_partial_files(disk)


def test_disk_full_a_shard_is_refused_before_hdf5_writes_it(small_disk, tmp_path):
    """In a separate process: HDF5 itself can crash on a full disk, which a test in-process would not survive."""
    disk = small_disk(tmp_path / "disk")
    script = tmp_path / "write.py"
    script.write_text(
        "import sys\n"
        "import numpy as np\n"
        "from srloss.data.shards import write_patches\n"
        "from srloss.errors import one_line_errors\n"
        "lr, hr = np.zeros((40, 3, 48, 48), np.uint8), np.zeros((40, 3, 96, 96), np.uint8)\n"
        "sys.exit(one_line_errors(lambda: write_patches(sys.argv[1], lr, hr, 2, {'source': 'packaged'}))())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, str(script), str(disk / "train.h5")]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 3, result.stderr  # a user error, reported; not a crash (-11)
    assert "train.h5: no space left on the device" in result.stderr and "needed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (disk / "train.h5").exists()
    _no_partial_files(disk)


@pytest.mark.integration
def test_disk_full_a_study_whose_results_do_not_fit_fails_in_words(small_disk, tmp_path):
    """`results/` on a 160 KiB tmpfs: a job fails with a one-line "no space left" in its log, not a
    crash (exit 139) with an empty log, and no partial output is left."""
    work = tmp_path / "work"
    work.mkdir()
    _write_images(work / "images")
    small_disk(work / "results", "160k")
    result = run_snakemake(work, "--cores", "1", "--keep-going", config=STUDY, timeout=600)
    assert result.returncode != 0
    logs = "\n".join(p.read_text() for p in (work / "results").rglob("*.log"))
    assert "no space left on the device" in logs, result.stderr[-3000:] + logs
    assert "returned non-zero exit status 139" not in result.stderr  # no crash
    _no_partial_files(work / "results")
    assert np.all([p.stat().st_size > 0 for p in (work / "results").rglob("*.h5")])
