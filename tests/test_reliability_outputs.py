"""Reliability class "outputs": results are written with the user's umask, flushed to disk (file,
then folder after the rename), orphaned temporary files of a killed job are removed by the job
that owns the output, and an unwritable output folder is refused before any work (real processes)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workflow_runner import BIN, test_env

from srloss import atomic
from srloss.atomic import atomic_path, orphans, write_text
from srloss.errors import EXIT_USER_ERROR

SPEC = {"source": "skimage", "splits": {"train": ["chelsea"], "test": ["astronaut"]}, "patch_size": 16, "stride": 64}


def _srloss(*args: str, umask: int | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run(
        [str(BIN / "srloss"), *args],
        capture_output=True,
        text=True,
        env=test_env(),
        timeout=timeout,
        preexec_fn=preexec,
    )


@pytest.mark.parametrize(
    "umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)]
)
def test_outputs_follow_the_users_umask(tmp_path, umask, file_mode, dir_mode):
    """A real prepare job run under each umask: its shard and the folders it made get exactly that mode."""
    out = tmp_path / "results/data/x2/test.h5"
    result = _srloss("prepare", "--spec", json.dumps(SPEC), "--scale", "2", "--test", str(out), umask=umask)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == file_mode
    assert stat.S_IMODE(out.parent.stat().st_mode) == dir_mode
    assert not orphans(out)


def test_outputs_umask_in_process_and_current_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert atomic.current_umask() == 0o027
        write_text(tmp_path / "t.txt", "x")
        assert stat.S_IMODE((tmp_path / "t.txt").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_outputs_are_fsynced_file_then_folder_after_rename(tmp_path, monkeypatch):
    """Record the real fsync and rename calls of one atomic write, in order."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "model.pt"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"weights" * 1000)
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1] == str(tmp) and events[1] == ("replace", str(tmp), str(target))
    assert events[2][1] == str(tmp_path)  # the folder, after the rename
    assert target.read_bytes() == b"weights" * 1000


def test_outputs_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and not orphans(target)


def test_outputs_orphans_are_removed_by_the_owning_job_only(tmp_path):
    out = tmp_path / "x2"
    out.mkdir()
    mine = [out / ".test.h5.abcd1234.part", out / ".test.h5.zz_9yy8x.part"]  # tempfile.mkstemp-style too
    other = [out / ".train.h5.abcd1234.part", out / ".test.h5.backup.part", out / "test.h5.part"]
    for p in mine + other:
        p.write_bytes(b"partial")
    assert orphans(out / "test.h5") == sorted(mine)
    result = _srloss("prepare", "--spec", json.dumps(SPEC), "--scale", "2", "--test", str(out / "test.h5"))
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in mine) and all(p.exists() for p in other)


def test_outputs_orphan_of_a_killed_job_is_removed_when_it_reruns(tmp_path):
    """SIGKILL a real prepare job while it writes its shard; the rerun removes the orphan and completes."""
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(80):  # about 3 s of writing on a quiet 2-core machine: the kill lands mid-write
        Image.fromarray(rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    spec = {
        "source": "folder",
        "root": str(root),
        "splits": {"train": [f"{i:02d}" for i in range(80)]},
        "patch_size": 8,
        "stride": 8,
    }
    out = tmp_path / "x2/train.h5"
    args = [str(BIN / "srloss"), "prepare", "--spec", json.dumps(spec), "--scale", "2", "--train", str(out)]
    job = subprocess.Popen(args, env=test_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not orphans(out) and time.time() < deadline and job.poll() is None:
            time.sleep(0.05)
        assert orphans(out), "the job never started writing its shard"  # killed at once: the job is short
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    assert orphans(out) and not out.exists()  # what a node crash or kill -9 leaves
    result = subprocess.run(args, env=test_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.exists() and not orphans(out)


def _blocked(tmp_path: Path) -> Path:
    """A folder that cannot be created: its parent is a regular file (unwritable even for root)."""
    (tmp_path / "results").write_text("a file where the results folder should be")
    return tmp_path / "results" / "run"


@pytest.mark.parametrize("command", ["prepare", "evaluate", "aggregate"])
def test_outputs_unwritable_folder_is_refused_before_any_work(tmp_path, command):
    folder = _blocked(tmp_path)
    out = str(folder / "out.file")
    args = {
        "prepare": ["prepare", "--spec", json.dumps(SPEC), "--scale", "2", "--train", out],
        # the test shard and checkpoint do not exist: the folder must be refused before they are read
        "evaluate": [
            "evaluate",
            "--spec",
            "{}",
            "--checkpoint",
            "missing.pt",
            "--test-shard",
            "missing.h5",
            "--metrics",
            out,
            "--record",
            out + ".json",
        ],
        "aggregate": [
            "aggregate",
            "--config",
            "{}",
            "--metrics",
            "missing.csv",
            "--per-image",
            out,
            "--summary-csv",
            out,
            "--summary-md",
            out,
            "--figure",
            out,
            "--provenance",
            out,
        ],
    }[command]
    result = _srloss(*args)
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert lines == [
        f"srloss: error: {folder}: output folder is not writable (Not a directory); fix its permissions "
        "or choose another working directory before running this job"
    ], result.stderr


def test_outputs_read_only_folder_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the file-as-parent case above covers root")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = _srloss("prepare", "--spec", json.dumps(SPEC), "--scale", "2", "--train", str(folder / "train.h5"))
    finally:
        folder.chmod(0o755)
    assert result.returncode == EXIT_USER_ERROR
    assert f"srloss: error: {folder}: output folder is not writable (Permission denied)" in result.stderr
