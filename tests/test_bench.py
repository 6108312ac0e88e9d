"""The benches' quick modes: bench/train_step.py runs the real training step and prints a
well-formed table; bench/bench_dryrun.py times srloss's dry run against a floor Snakefile that
plans the same job graph."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench_module(name: str):
    """A bench script imported as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_bench_dryrun_quick_times_srloss_and_its_floor_on_the_same_graph() -> None:
    """--quick: the 16-run grid (2 models x 2 losses x 2 scales x 2 seeds). The bench exits with an
    error unless the floor plans srloss's jobs per rule, edges and files; the row's ratio is the
    two CPU times' ratio."""
    cmd = [sys.executable, str(ROOT / "bench/bench_dryrun.py"), "--quick"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
    table = [line for line in out.splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == [
        *("grid", "jobs", "edges", "srloss `-n` CPU", "floor `-n` CPU", "ratio", "srloss wall", "floor wall")
    ]
    [row] = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    # 6 shards (3 splits x 2 scales), 16 trainings, 16 + 2 baseline evaluations, aggregate, all
    assert row[:2] == ["16 runs", "42"]
    # train: 2 shards; trained evaluation: its shard and training; baseline: its shard; aggregate: every
    # evaluation and training; all: aggregate
    assert int(row[2]) == 16 * 2 + 16 * 2 + 2 + 18 + 16 + 1
    srloss, floor = (float(re.fullmatch(r"([\d.]+) s", cell).group(1)) for cell in row[3:5])
    assert srloss > 0 and floor > 0
    assert math.isclose(float(row[5].rstrip("x")), srloss / floor, abs_tol=0.02)


def test_the_floor_patterns_are_inferred_from_the_files_of_every_job() -> None:
    """A value shared by two wildcards (scale 2, seed 2) is written as the wildcard that fits the
    rule's other jobs too."""
    infer_pattern = bench_module("bench_dryrun").infer_pattern
    paths = ["runs/a/x2/seed2/m.pt", "runs/b/x3/seed2/m.pt", "runs/a/x2/seed5/m.pt"]
    values = (("a", "2", "2"), ("b", "3", "2"), ("a", "2", "5"))
    wildcards = [{"d": d, "scale": scale, "seed": seed} for d, scale, seed in values]
    assert infer_pattern(paths, wildcards) == "runs/{d}/x{scale}/seed{seed}/m.pt"
    assert infer_pattern(["tables/a.csv"], [{}]) == "tables/a.csv"
