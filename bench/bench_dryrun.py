"""Dry-run time of large studies: how long `snakemake -n` takes to plan a 1,000-run and a
10,000-run grid (goal: under 10 s for 1,000 runs). Prints one line per grid.

Usage: python bench/bench_dryrun.py [--repeat 3] [--sizes 1000 10000] [--profile]
Reports wall time and CPU time (user + system of the snakemake process: what the wall time is
on an idle machine, since planning is single-threaded; on a shared machine wall time varies).
Runs from a temporary folder (nothing is executed; no results are written to the repository).
--profile also prints the top of a cProfile of the Snakefile parse + DAG build for the first size.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# runs = models x losses x scales x seeds
GRIDS = {1000: (5, 10, 4, 5), 10000: (10, 25, 4, 10)}


def grid_config(n_models: int, n_losses: int, n_scales: int, n_seeds: int) -> dict:
    """A study with distinct, valid model and loss definitions (srcnn/espcn with different widths;
    mixes of pixel losses with different weights)."""
    models = {}
    for i in range(n_models):
        arch = ("srcnn", "espcn")[i % 2]
        models[f"{arch}-c{16 + 8 * i}"] = {"arch": arch, "options": {"channels": 16 + 8 * i, "residual": bool(i % 3)}}
    losses = {}
    for i in range(n_losses):
        w = round(0.1 + 0.8 * i / max(n_losses - 1, 1), 4)
        losses[f"mix{i}"] = {
            "terms": [{"name": "l1", "weight": w}, {"name": "charbonnier", "weight": round(1 - w, 4), "eps": 1e-3}]
        }
    return {
        "study": "bench",
        "datasets": {
            "photos": {
                "source": "skimage",
                "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
                "patch_size": 48,
                "stride": 48,
            }
        },
        "models": models,
        "losses": losses,
        "scales": [2, 3, 4, 8][:n_scales],
        "seeds": list(range(n_seeds)),
        "training": {"steps": 10},
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dry_run(workdir: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of a plain `snakemake -n` (it lists every job), and the job count.
    The CPU time is what the wall time would be on an idle machine (snakemake is single-threaded)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    cpu = _children_cpu()
    start = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--configfile", "study.yaml", "-n"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(out.stderr[-3000:])
    total = re.search(r"^total\s+(\d+)$", out.stdout, re.M)
    return seconds, _children_cpu() - cpu, int(total.group(1)) if total else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=sorted(GRIDS), choices=sorted(GRIDS))
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # baseline: snakemake's own start-up on an empty workflow
        (work / "Empty").write_text("rule all:\n    output: 'x'\n    shell: 'touch {output}'\n")
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run([str(BIN / "snakemake"), "-s", "Empty", "-n"], cwd=work, capture_output=True, check=True)
        print(
            f"snakemake start-up (one-rule workflow): wall {time.perf_counter() - start:.2f} s, CPU "
            f"{_children_cpu() - cpu:.2f} s"
        )
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        print(
            "import torch (paid by a parse only when the config check is not cached): wall "
            f"{time.perf_counter() - start:.2f} s, CPU {_children_cpu() - cpu:.2f} s"
        )
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for size in args.sizes:
            shape = GRIDS[size]
            (work / "study.yaml").write_text(yaml.safe_dump(grid_config(*shape)))
            times, cpus, jobs = [], [], 0
            for _ in range(args.repeat):
                seconds, cpu, jobs = dry_run(work)
                times.append(seconds)
                cpus.append(cpu)
            print(
                f"{size:>6} runs ({shape[0]} models x {shape[1]} losses x {shape[2]} scales x {shape[3]} "
                f"seeds), {jobs} jobs: "
                f"snakemake -n wall median {statistics.median(times):.2f} s (min {min(times):.2f}), "
                f"CPU median {statistics.median(cpus):.2f} s (n={args.repeat})"
            )
            if args.profile and size == args.sizes[0]:
                prof = work / "prof.txt"
                code = (
                    "import cProfile, pstats, sys; from snakemake.cli import main; sys.argv = ['snakemake', "
                    "'-s', %r, '--configfile', 'study.yaml', '-n'];"
                    "cProfile.run('\\ntry:\\n    main()\\nexcept SystemExit:\\n    pass', 'prof.out');"
                    "pstats.Stats('prof.out', stream=open(%r, 'w')).sort_stats('cumulative').print_stats(40)"
                ) % (str(REPO / "Snakefile"), str(prof))
                subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True)
                print(prof.read_text() if prof.exists() else "(profile failed)")


if __name__ == "__main__":
    main()
