"""The benches' quick modes run the real code and print well-formed tables with sane values:
bench/train_step.py --quick, bench/gpu_check.sh in its dry mode, bench/bench_resize.py against a
BasicSR anchor, bench/bench_aggregate.py, bench/bench_dryrun.py against a floor Snakefile that
plans the same job graph."""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- bench/gpu_check.sh: the GPU check, in its dry mode on the CPU ---------------------------------


def _gpu_check(out: Path, *args: str, dry: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, GPU_CHECK_PYTHON=sys.executable, GPU_CHECK_LIMIT_S="1200")
    env.pop("GPU_CHECK_DRY", None)
    if dry:
        env["GPU_CHECK_DRY"] = "1"
    cmd = ["bash", str(ROOT / "bench/gpu_check.sh"), "--out", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1300)


def _figures(out: Path) -> dict[tuple[str, str], dict]:
    """(check, case) -> {"verdict", "note", figure name: value} from gpu_check.csv."""
    rows: dict[tuple[str, str], dict] = {}
    with open(out / "gpu_check.csv", newline="") as f:
        for line in csv.DictReader(f):
            row = rows.setdefault((line["check"], line["case"]), {"verdict": line["verdict"], "note": line["note"]})
            if line["figure"]:
                row[line["figure"]] = line["value"]
    return rows


def test_gpu_check_dry_mode_prints_every_row_with_sane_values(tmp_path):
    from srloss.losses import LOSS_TERMS

    result = _gpu_check(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: CPU") and "torch " in lines[0] and "dry mode" in lines[0]
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| check ")]
    assert (tmp_path / "gpu_check.md").read_text().count("\n| ") == len(table) + 1  # the same table, header too
    rows = _figures(tmp_path)
    assert len(rows) == len(table)
    by_check = lambda check: {case: r for (c, case), r in rows.items() if c == check}  # noqa: E731

    train = by_check("train step")
    assert len(train) == 16 and {case.rsplit(", ", 1)[1] for case in train} == {"fp32", "bf16"}
    for case, r in train.items():
        assert r["verdict"] == "info" and float(r["ms/step"]) > 0 and float(r["bare ms"]) > 0, (case, r)
        assert math.isfinite(float(r["overhead %"]))
        assert ("random backbone" in r["note"]) == any(k in case for k in ("texture", "vgg", "lpips")), case

    tiled = by_check("tiled eval")
    assert len(tiled) == 4
    for case, r in tiled.items():
        assert float(r["peak MiB"]) > 0 and float(r["seconds"]) > 0
        if case.startswith("tiled"):
            assert r["verdict"] == "pass" and float(r["max abs diff"]) <= 1e-5 and r["uint8 px differing"] == "0"

    amp = by_check("amp")
    assert set(amp) == set(LOSS_TERMS)
    for name, r in amp.items():
        assert r["precision"] == LOSS_TERMS[name].precision
        cosine, rel = float(r["gradient cosine"]), float(r["value rel. diff"])
        if r["precision"] == "fp32":
            assert r["verdict"] == "pass" and cosine > 0.999 and rel <= 1e-3, (name, r)
        else:  # bf16 networks: reported, not judged; random backbones said so
            assert r["verdict"] == "info" and math.isfinite(cosine) and math.isfinite(rel), (name, r)
            assert "random" in r["note"]

    (slot,) = by_check("2-GPU slots").values()
    assert slot["verdict"] == "pass" and sorted(slot["devices"].split(" and ")) == ["0", "1"]
    assert float(slot["overlap s"]) > 0
    assert lines[-2].startswith("verdicts: ") and "0 FAIL" in lines[-2] and "0 error" in lines[-2]


def test_gpu_check_time_budget_skips_the_rows_it_cannot_start_and_non_dry_needs_a_gpu(tmp_path):
    result = _gpu_check(tmp_path, "--budget-s", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _figures(tmp_path)
    assert len(rows) > 30 and {r["verdict"] for r in rows.values()} == {"skipped"}
    assert all("time budget (0 s) was spent" in r["note"] for r in rows.values())

    import torch

    if not torch.cuda.is_available():
        result = _gpu_check(tmp_path, dry=False)
        assert result.returncode == 1 and "no CUDA GPU is visible here" in result.stderr
        assert "--dry" in result.stderr


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
        # the times are printed rounded to 0.1 ms, the ratio from the unrounded ones: it must lie in
        # the range the rounded times allow (tiny images on a loaded machine: 0.2 / 0.3 may be 0.5)
        low, high = max(anchor - 0.05, 0) / (ours + 0.05), (anchor + 0.05) / max(ours - 0.05, 1e-9)
        assert low * 0.9 - 0.1 <= ratio <= high * 1.1 + 0.1, (row, low, high)
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


# ----- bench/bench_aggregate.py -------------------------------------------------------------------


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
