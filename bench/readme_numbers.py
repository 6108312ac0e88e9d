"""The demo's measured times in README.md and bench/demo-timing.md, written from the measurements.

Every timed `make demo` is one row of bench/demo-timing.csv (wall and CPU time from `/usr/bin/time
-v`, CPU seconds per stage from Snakemake's benchmark files, run health from run.json), and the
numbers the README and bench/demo-timing.md state are written from those rows into their marked
blocks (``<!-- results: NAME -->`` ... ``<!-- results: end -->``), so a figure can neither be
typed by hand nor outlive the measurement it came from. Only rows at the demo's current budget
(config.yaml's ``training.steps``) count.

    python bench/readme_numbers.py record results/demo --time-log time.log [--quiet] [--load-before 1.5]
    python bench/readme_numbers.py write      # `make readme-numbers`
    python bench/readme_numbers.py check      # exit 1 naming each stale file (tests/test_readme_numbers.py)

Timing a demo (bench/demo-timing.md, How it was measured): note the load average, run
``/usr/bin/time -v -o time.log make -o install -o .venv/.installed demo CORES=2``, then ``record``
(``--quiet`` when nothing else ran: the load average stayed within the demo's own 2 job slots).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import statistics
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "bench/demo-timing.csv"
CONFIG = ROOT / "config.yaml"
TARGETS = {ROOT / "README.md": "demo-summary", ROOT / "bench/demo-timing.md": "demo-runs"}
BLOCK = re.compile(r"(<!-- results: ([\w-]+) -->\n).*?(<!-- results: end -->)", re.S)
COLUMNS = [
    "run", "date", "steps", "lpips", "quiet", "cores", "load_before", "load_after", "wall_s", "user_s", "system_s",
    "peak_gb", "prepare_cpu_s", "train_cpu_s", "evaluate_cpu_s", "aggregate_cpu_s", "runs_trained", "runs_healthy",
    "note",
]  # fmt: skip
STAGES = ("prepare", "train", "evaluate", "aggregate")
LPIPS_KINDS = ("none", "random", "imagenet")  # not computed (offline); random AlexNet trunk (same cost); real weights


# ----- the measurements ------------------------------------------------------------------------


def read_rows(path: Path = CSV) -> list[dict]:
    """The timed runs, numbers as numbers (None where a figure was not recorded)."""
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict = {}
            for key, text in raw.items():
                if key in ("date", "lpips", "note"):
                    row[key] = text
                elif key == "quiet":
                    row[key] = text == "yes"
                else:
                    row[key] = float(text) if text else None
            rows.append(row)
    return rows


def demo_steps(config: Path = CONFIG) -> int:
    """The demo's budget: config.yaml's training.steps."""
    return int(yaml.safe_load(config.read_text())["training"]["steps"])


def time_log(path: Path) -> dict:
    """Wall, user and system seconds and peak memory from `/usr/bin/time -v`'s report."""
    text = path.read_text()

    def field(label: str) -> str:
        match = re.search(rf"^\s*{re.escape(label)}: (.+)$", text, re.M)
        if not match:
            raise ValueError(f"{path}: no '{label}' line; expected the report of /usr/bin/time -v")
        return match.group(1).strip()

    *hours_minutes, seconds = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    wall = float(seconds) + sum(int(v) * 60**i for i, v in enumerate(reversed(hours_minutes), start=1))
    return {
        "wall_s": round(wall),
        "user_s": float(field("User time (seconds)")),
        "system_s": float(field("System time (seconds)")),
        "peak_gb": round(int(field("Maximum resident set size (kbytes)")) / 1e6, 2),
    }


def stage_cpu(results: Path) -> dict[str, float]:
    """CPU seconds of each stage: the ``cpu_time`` of its jobs' Snakemake benchmark files
    (``benchmarks/<rule>/...tsv``, or ``benchmarks/<rule>.tsv``; the budget rule counts as evaluate)."""
    totals = dict.fromkeys(STAGES, 0.0)
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        parts = tsv.relative_to(results / "benchmarks").parts
        rule = parts[0] if len(parts) > 1 else tsv.stem
        stage = {"evaluate_step": "evaluate", "budget": "aggregate"}.get(rule, rule)
        if stage in totals:
            with open(tsv, newline="") as f:
                jobs = list(csv.DictReader(f, delimiter="\t"))
            totals[stage] += sum(float(job["cpu_time"]) for job in jobs if job["cpu_time"] != "NA")  # NA: unsampled
    return {stage: round(value) for stage, value in totals.items()}


def run_health(results: Path) -> dict:
    """The trained runs' budget (run.json ``steps_planned``, one for all), count and healthy count."""
    records = [json.loads(p.read_text()) for p in sorted((results / "runs").rglob("run.json"))]
    trained = [r for r in records if r["spec"]["loss"] != "none"]
    steps = {r["steps_planned"] for r in trained}
    if len(steps) != 1:
        raise ValueError(f"{results}: expected trained runs of one budget, found steps_planned {sorted(steps)}")
    healthy = sum(str(r["status"]).split()[0] == "completed" for r in trained)
    return {"steps": steps.pop(), "runs_trained": len(trained), "runs_healthy": healthy}


def lpips_kind(results: Path) -> str:
    """Whether the demo measured LPIPS, and with which trunk: from tables/per_image.csv's columns."""
    with open(results / "tables/per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    measured = {c for row in rows for c, v in row.items() if c.startswith("lpips_") and v not in ("", "nan", "NaN")}
    if not measured:
        return "none"
    return "random" if any(c.endswith("_random_backbone") for c in measured) else "imagenet"


def record(results: Path, log: Path, quiet: bool, load_before: float | None, note: str, path: Path = CSV) -> dict:
    """Append one timed demo (its results folder and /usr/bin/time -v report) to the CSV; return the row."""
    rows = read_rows(path) if path.exists() else []
    row = {
        "run": int(max((r["run"] for r in rows), default=0)) + 1,
        "date": datetime.date.today().isoformat(),
        "lpips": lpips_kind(results),
        "quiet": "yes" if quiet else "no",
        "cores": os.cpu_count(),
        "load_before": load_before if load_before is not None else "",
        "load_after": round(os.getloadavg()[0], 2),
        **time_log(log),
        **{f"{stage}_cpu_s": value for stage, value in stage_cpu(results).items()},
        **run_health(results),
        "note": note,
    }
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)
    return row


# ----- the figures and the blocks -------------------------------------------------------------


def duration(seconds: float) -> str:
    """205 -> "3 min 25 s"."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def runs_named(rows: list[dict]) -> str:
    """The runs by number: run 4; runs 1 and 2; runs 1, 2 and 3."""
    ids = [str(int(r["run"])) for r in sorted(rows, key=lambda r: r["run"])]
    return f"run {ids[0]}" if len(ids) == 1 else f"runs {', '.join(ids[:-1])} and {ids[-1]}"


def figures(rows: list[dict], steps: int) -> dict:
    """What the summary states, from the rows at ``steps``.

    * quiet: the fastest quiet offline run (its wall time is the README's headline);
    * lpips_ratio: mean evaluate CPU time of the runs that computed LPIPS over that of the offline
      runs on a shared machine (like with like: CPU time itself grows with contention);
    * lpips_estimate: the quiet run's wall time plus its evaluate CPU time x (ratio - 1), spread
      over its cores (evaluation jobs run in parallel);
    * shared: the runs on a machine shared with other jobs (their wall times as a range).
    """
    at = [r for r in rows if r["steps"] == steps]
    quiet = sorted((r for r in at if r["quiet"] and r["lpips"] == "none"), key=lambda r: r["wall_s"])
    shared = [r for r in at if not r["quiet"]]
    with_lpips = [r for r in at if r["lpips"] != "none" and r["evaluate_cpu_s"]]
    offline = [r for r in shared if r["lpips"] == "none" and r["evaluate_cpu_s"]]
    out: dict = {"steps": steps, "quiet": quiet[0] if quiet else None, "shared": shared}
    if with_lpips and offline:
        ratio = statistics.mean(r["evaluate_cpu_s"] for r in with_lpips) / statistics.mean(
            r["evaluate_cpu_s"] for r in offline
        )
        out.update(lpips_ratio=ratio, lpips_runs=with_lpips + offline)
        if quiet:
            q = quiet[0]
            out["lpips_estimate"] = q["wall_s"] + q["evaluate_cpu_s"] * (ratio - 1) / q["cores"]
    return out


def summary(rows: list[dict], steps: int, link: str) -> str:
    """The README's paragraph on the demo's time (``link``: how it refers to the timing log)."""
    f = figures(rows, steps)
    q = f["quiet"]
    if q is None:
        text = f"The demo ({steps} steps) has not been timed on a quiet machine yet ({link})."
    else:
        cores = int(q["cores"])
        text = (
            f"Measured on a quiet {cores}-core machine, install and download excluded: **{duration(q['wall_s'])}** "
            f"offline ({runs_named([q])} of {link})."
        )
        if "lpips_estimate" in f:
            text += (
                f" With LPIPS about {round(f['lpips_estimate'] / 60)} min, estimated: computing LPIPS made the "
                f"evaluation stage {f['lpips_ratio']:.1f}× as costly in CPU time ({runs_named(f['lpips_runs'])})."
            )
    if f["shared"]:
        walls = [r["wall_s"] / 60 for r in f["shared"]]
        span = f"{round(min(walls))}–{round(max(walls))} min" if len(walls) > 1 else f"{round(walls[0])} min"
        text += f" On a machine shared with other jobs it took {span} ({runs_named(f['shared'])})."
    return textwrap.fill(text, width=96, break_on_hyphens=False) + "\n"


def _cell(value: object) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


def runs_table(rows: list[dict], steps: int) -> str:
    """bench/demo-timing.md's table of every timed run, then the summary."""
    head = "| run | date | steps | LPIPS | quiet | load before → after | wall | CPU s (user + system) |"
    head += " CPU s: prepare / train / evaluate / aggregate | peak GB | healthy runs | note |"
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        cpu = " / ".join(_cell(r[f"{s}_cpu_s"]) for s in STAGES)
        cells = [
            _cell(r["run"]), r["date"], _cell(r["steps"]), r["lpips"], "yes" if r["quiet"] else "no",
            f"{_cell(r['load_before'])} → {_cell(r['load_after'])}", duration(r["wall_s"]),
            f"{r['user_s'] + r['system_s']:.0f}", cpu, _cell(r["peak_gb"]),
            f"{_cell(r['runs_healthy'])} of {_cell(r['runs_trained'])}", r["note"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + summary(rows, steps, "the table above")


def blocks(rows: list[dict], steps: int) -> dict[str, str]:
    """Each block's text by name."""
    return {
        "demo-summary": summary(rows, steps, "[bench/demo-timing.md](bench/demo-timing.md)"),
        "demo-runs": runs_table(rows, steps),
    }


def rewritten(text: str, path: Path, content: dict[str, str]) -> str:
    """``text`` with every results block replaced by its content; an unknown or missing block is an error."""
    names = [m.group(2) for m in BLOCK.finditer(text)]
    unknown = [n for n in names if n not in content]
    if unknown or not names:
        raise ValueError(f"{path}: expected <!-- results: NAME --> ... <!-- results: end --> with NAME in "
                         f"{', '.join(content)}; found {names or 'no block'}")  # fmt: skip
    return BLOCK.sub(lambda m: m.group(1) + content[m.group(2)] + m.group(3), text)


def stale(targets: dict[Path, str] = TARGETS, rows: list[dict] | None = None, steps: int | None = None) -> list[Path]:
    """The files whose results blocks differ from what the measurements give."""
    content = blocks(read_rows() if rows is None else rows, demo_steps() if steps is None else steps)
    return [p for p in targets if rewritten(p.read_text(), p, content) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="append a timed demo to bench/demo-timing.csv")
    rec.add_argument("results", type=Path, help="the demo's results folder (results/demo)")
    rec.add_argument("--time-log", type=Path, required=True, help="the report of /usr/bin/time -v")
    rec.add_argument("--quiet", action="store_true", help="nothing but the demo ran (load within its 2 job slots)")
    rec.add_argument("--load-before", type=float, help="the 1-minute load average before the run")
    rec.add_argument("--note", default="", help="what was special about this run")
    sub.add_parser("write", help="rewrite the results blocks of README.md and bench/demo-timing.md")
    sub.add_parser("check", help="exit 1 when a results block differs from the measurements")
    args = ap.parse_args(argv)
    if args.command == "record":
        print(record(args.results, args.time_log, args.quiet, args.load_before, args.note))
        return 0
    changed = stale()
    if args.command == "check":
        for path in changed:
            print(f"{path}: its results block differs from bench/demo-timing.csv; run `make readme-numbers`")
        return 1 if changed else 0
    content = blocks(read_rows(), demo_steps())
    for path in changed:
        path.write_text(rewritten(path.read_text(), path, content))
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
