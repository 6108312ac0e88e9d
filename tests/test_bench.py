"""The benches' quick modes: bench/train_step.py runs the real training step, bench/bench_resize.py
the resizes against a BasicSR anchor, and each prints a well-formed table."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_step_quick_prints_table_with_finite_overhead() -> None:
    cmd = [sys.executable, str(ROOT / "bench/train_step.py"), "--quick", "--threads", "1"]
    cmd += ["--models", "espcn", "--losses", "l1"]  # --quick: batch 4 of 16 px patches
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout
    lines = out.splitlines()
    assert lines[0].startswith("device: CPU") and "torch " in lines[0]
    table = [line for line in lines if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["preset", "model", "loss", "ms/step", "samples/s", "bare ms", "overhead %", "peak MiB"]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert [r[:3] for r in rows] == [["config", "espcn", "l1"]]
    ms, samples, bare, overhead, peak = map(float, rows[0][3:])
    assert ms > 0 and bare > 0 and peak > 0
    assert math.isclose(samples, 4000 / ms, rel_tol=0.01)
    assert math.isfinite(overhead)


# ----- bench/bench_resize.py -----------------------------------------------------------------

# Stands in for a pip-downloaded BasicSR sdist: its matlab_functions.imresize is the float32
# dense MATLAB matrices (a different implementation of the same resize), and the package's
# __init__ fails, as BasicSR's does with this torchvision, so the bench must load the one file.
FAKE_MATLAB_FUNCTIONS = """
import math
import torch
from srloss.ops.resize import resize_matrix


def imresize(img, scale, antialiasing=True):
    h, w = img.shape[-2:]
    mh = torch.from_numpy(resize_matrix(h, math.ceil(h * scale), scale, antialiasing)).float()
    mw = torch.from_numpy(resize_matrix(w, math.ceil(w * scale), scale, antialiasing)).float()
    return mh @ img @ mw.T
"""


def _fake_basicsr_sdist(folder: Path) -> None:
    import io
    import tarfile

    files = {
        "basicsr-0.0/basicsr/__init__.py": "raise ImportError('the package must not be imported')\n",
        "basicsr-0.0/basicsr/utils/matlab_functions.py": FAKE_MATLAB_FUNCTIONS,
    }
    with tarfile.open(folder / "basicsr-0.0.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))


def test_resize_quick_prints_rows_ratios_and_errors(tmp_path: Path) -> None:
    _fake_basicsr_sdist(tmp_path)
    cmd = [sys.executable, str(ROOT / "bench/bench_resize.py"), "--quick", "--threads", "1", "--basicsr", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout
    lines = out.splitlines()
    assert lines[0].startswith("machine: ") and "1 torch thread(s)" in lines[0] and "torch " in lines[0]
    assert lines[1] == f"BasicSR: {tmp_path}"
    table = [line for line in lines if line.startswith("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert [r[:3] for r in rows] == [
        ["down x2", "240x156", "120x78"],
        ["down x3", "240x156", "80x52"],
        ["down x4", "240x156", "60x39"],
        ["up x2", "120x78", "240x156"],
        ["up x3", "80x52", "240x156"],
        ["up x4", "60x39", "240x156"],
    ]
    for row in rows:
        ours, dense, anchor, ratio, err, anchor_err = map(float, row[3:])
        assert ours > 0 and dense > 0 and anchor > 0
        assert math.isclose(ratio, anchor / ours, rel_tol=0.1, abs_tol=0.1)
        assert err <= 1e-5 and anchor_err <= 1e-5
    assert any(line.startswith("upscale: slowest speed-up over BasicSR") for line in lines)


def test_resize_bench_says_why_the_anchor_is_skipped(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_resize", ROOT / "bench/bench_resize.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.load_basicsr("none") == (None, "--basicsr none")
    fn, why = bench.load_basicsr(str(tmp_path / "missing"))
    assert fn is None and "missing does not exist" in why
    (tmp_path / "empty").mkdir()
    fn, why = bench.load_basicsr(str(tmp_path / "empty"))
    assert fn is None and "no basicsr/utils/matlab_functions.py in" in why
    assert bench.GET_BASICSR.startswith("pip download basicsr --no-deps -d ")
