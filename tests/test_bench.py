"""bench/train_step.py --quick runs the real training step and prints a well-formed table."""

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
