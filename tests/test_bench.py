"""The benches' quick modes run the real code and print well-formed tables."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_bench_aggregate_quick_runs_the_stage_and_prints_cost_per_loss() -> None:
    """bench/bench_aggregate.py --quick: two small grids aggregated by the real stage in a subprocess."""
    cmd = [sys.executable, str(ROOT / "bench/bench_aggregate.py"), "--quick"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    lines = out.splitlines()
    assert lines[0].startswith("machine: ") and "CPU(s)" in lines[0]
    table = [line for line in lines if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["losses", "runs", "CPU s", "CPU s - start-up", "per loss", "wall s", "peak MiB"]
    rows = [[float(c) for c in line.strip("|").split("|")] for line in table[2:]]
    assert [(r[0], r[1]) for r in rows] == [(2, 2 + 2 * 4), (4, 2 + 4 * 4)]  # baselines + losses x seeds x scales
    for losses, _, cpu, net, per_loss, wall, peak in rows:
        assert 0 < net < cpu and per_loss == pytest.approx(net / losses, abs=0.01) and wall > 0 and peak > 100
    ratio = float(lines[-1].split(": ")[1].split()[0])
    assert ratio == pytest.approx(rows[1][4] / rows[0][4], rel=0.05)
