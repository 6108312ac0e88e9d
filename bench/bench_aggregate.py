"""Cost of the aggregate stage against the size of the grid (goal: linear in the number of losses).

Writes synthetic run folders (metrics.csv, crops.npz, run.json, history.csv; the files the
workflow's aggregate rule reads) for one dataset and model, ``losses`` x 2 seeds x 2 scales
trained runs plus a bicubic baseline per scale, in a temporary folder, and runs the real stage
(``python -m srloss aggregate``, as the rule does) in a subprocess. It reports that process's CPU
time (user + system: the wall time on an idle machine; the machines it runs on are shared) and
peak RSS (``os.wait4``). The anchor, measured in the same run, is the stage's start-up alone
(``import srloss.report.aggregate``), so the figures say what the grid itself costs:

* CPU seconds per loss at a small and a large grid, and their ratio (goal <= 2: linear);
* peak RSS at the memory grid (goal < 1 GiB);
* the small grid again with ``evaluation.figures.pdf: false`` (PNG only): what the PDFs cost.

Usage: python bench/bench_aggregate.py [--small 6] [--large 60] [--memory 120] [--images 100]
       python bench/bench_aggregate.py --quick       # 2 and 4 losses, 8 images (tests/test_bench.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATASET, MODEL = "div2k", "edsr"
SCALES, SEEDS = (2, 4), (0, 1)
# The default metric set's columns (evaluation.metrics' defaults, LPIPS with the AlexNet trunk).
METRICS = {
    "psnr_rgb": (28.0, 2.0),
    "psnr_y": (29.0, 2.0),
    "ssim_y": (0.85, 0.05),
    "mse": (60.0, 20.0),
    "sharpness_diff": (0.0, 0.1),
    "sharpness_lost": (0.1, 0.05),
    "sharpness_added": (0.05, 0.03),
    "lpips_alex": (0.2, 0.05),
}
HISTORY_ROWS = 200  # a 10,000-step run logged every 50 steps


def write_run(root: Path, loss: str, scale: int, seed: int, images: int, rng: np.random.Generator) -> Path:
    """One run folder as training and evaluation leave it; the path of its metrics.csv."""
    model = "bicubic" if loss == "none" else MODEL
    folder = root / f"runs/{DATASET}/{model}/{loss}/x{scale}/seed{seed}"
    folder.mkdir(parents=True)
    quality = 0.0 if loss == "none" else 0.5 + rng.random()
    values = {m: mean + quality * sd + sd * rng.standard_normal(images) for m, (mean, sd) in METRICS.items()}
    values["ssim_y"] = np.clip(values["ssim_y"], 0, 1)
    for m in ("mse", "sharpness_lost", "sharpness_added", "lpips_alex"):
        values[m] = np.abs(values[m])
    status = "baseline" if loss == "none" else "completed"
    ids = {"study": "bench", "dataset": DATASET, "test_set": DATASET, "model": model, "loss": loss}
    ids |= {"scale": scale, "seed": seed, "image": [f"{801 + i:04d}" for i in range(images)], "status": status}
    pd.DataFrame({**ids, **values, "missing": ""}).to_csv(folder / "metrics.csv", index=False)
    crops = {}
    for i in range(min(3, images)):
        name = f"{801 + i:04d}"
        crops[f"sr__{name}"] = rng.integers(0, 256, (3, 96, 96), dtype=np.uint8)
        crops[f"hr__{name}"] = np.full((3, 96, 96), 128, np.uint8)
        crops[f"box__{name}"] = np.array([0, 0, 96])
    np.savez(folder / "crops.npz", **crops)
    if loss != "none":
        spec = {"dataset": DATASET, "model": model, "loss": loss, "scale": scale, "seed": seed}
        spec["terms"] = [{"name": "l1"}]
        record = {"spec": spec, "status": status, "steps_done": 50 * HISTORY_ROWS, "saved_steps": {}}
        (folder / "run.json").write_text(json.dumps(record))
        steps = np.arange(HISTORY_ROWS + 1) * 50
        curve = 1 / (1 + steps / 1000) + 0.01 * rng.random(steps.size)
        val = np.where(steps % 1000 == 0, 30 + steps / 1e4, np.nan)
        pd.DataFrame({"step": steps, "loss": curve, "l1": curve, "val_psnr_y": val}).to_csv(
            folder / "history.csv", index=False
        )
    return folder / "metrics.csv"


def write_study(root: Path, n_losses: int, images: int) -> list[Path]:
    """Every run folder of a losses x 2 seeds x 2 scales grid and its baselines; the metrics files."""
    rng = np.random.default_rng(n_losses)
    paths = [write_run(root, "none", s, 0, images, rng) for s in SCALES]
    losses = [f"loss{i:03d}" for i in range(n_losses)]
    paths += [write_run(root, lo, s, sd, images, rng) for lo in losses for s in SCALES for sd in SEEDS]
    return paths


def measured(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """(CPU seconds, peak RSS MiB, wall seconds) of one child process; raises with its output if it fails."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            log.seek(0)
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{log.read().decode()[-3000:]}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, time.perf_counter() - start


def aggregate_grid(n_losses: int, images: int, pdf: bool = True) -> dict[str, float]:
    """Write a grid and aggregate it as the workflow's rule does; its runs, CPU s, peak MiB, wall s."""
    with tempfile.TemporaryDirectory(prefix="bench_aggregate_") as tmp:
        root = Path(tmp)
        paths = write_study(root, n_losses, images)
        evaluation = {"alpha": 0.05, "reference": "baseline", "figures": {"pdf": pdf}}
        config = {"study": "bench", "evaluation": evaluation}
        out = root / "results/bench"
        cmd = [sys.executable, "-m", "srloss", "aggregate", "--config", json.dumps(config), "--root", str(out)]
        cmd += ["--per-image", str(out / "tables/per_image.csv"), "--summary-csv", str(out / "tables/summary.csv")]
        cmd += ["--summary-md", str(out / "tables/summary.md"), "--figure", str(out / "figures/psnr_ssim.png")]
        cmd += ["--provenance", str(out / "tables/provenance.json"), "--metrics", *map(str, paths)]
        cpu, peak, wall = measured(cmd, root)
    return {"runs": len(paths), "cpu": cpu, "peak": peak, "wall": wall}


def startup() -> float:
    """CPU seconds of the stage's imports alone (the anchor subtracted from every grid)."""
    cmd = [sys.executable, "-c", "import srloss.cli, srloss.report.aggregate"]
    return min(measured(cmd, REPO)[0] for _ in range(2))


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()}, {os.cpu_count()} CPU(s), load average {load:.1f}, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=6, help="losses of the small grid")
    ap.add_argument("--large", type=int, default=60, help="losses of the large grid")
    ap.add_argument("--memory", type=int, default=120, help="losses of the memory grid (x 4 runs); 0: skip")
    ap.add_argument("--images", type=int, default=100, help="test images per run")
    ap.add_argument("--quick", action="store_true", help="2 and 4 losses, 8 images, memory grid of 4 losses")
    args = ap.parse_args()
    if args.quick:
        args.small, args.large, args.memory, args.images = 2, 4, 4, 8
    print(f"machine: {machine()}; {args.images} test images per run")
    anchor = startup()
    print(f"start-up (imports, the anchor): {anchor:.2f} CPU s")
    print("| losses | runs | CPU s | CPU s - start-up | per loss | wall s | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    per_loss = {}
    grids = [args.small, args.large] + ([args.memory] if args.memory else [])
    for n in dict.fromkeys(grids):
        r = aggregate_grid(n, args.images)
        net = max(r["cpu"] - anchor, 0.0)
        per_loss[n] = net / n
        print(f"| {n} | {r['runs']} | {r['cpu']:.2f} | {net:.2f} | {net / n:.3f} | {r['wall']:.1f} | {r['peak']:.0f} |")
        sys.stdout.flush()
    png = max(aggregate_grid(args.small, args.images, pdf=False)["cpu"] - anchor, 0.0)
    saved = 1 - png / (per_loss[args.small] * args.small) if per_loss[args.small] > 0 else float("nan")
    print(f"PNG only (evaluation.figures.pdf: false), {args.small} losses: {png:.2f} CPU s net ({saved:.0%} less)")
    ratio = per_loss[args.large] / per_loss[args.small] if per_loss[args.small] > 0 else float("nan")
    print(f"per-loss CPU ratio {args.large} vs {args.small} losses: {ratio:.2f} (goal <= 2: linear)")


if __name__ == "__main__":
    main()
