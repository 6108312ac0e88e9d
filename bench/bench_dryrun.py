"""Dry-run time of large studies against Snakemake's own floor: how long `snakemake -n` takes to
plan a 1,000-run and a 10,000-run grid with srloss's workflow, and with a bare Snakefile that has
the same job graph (goal: srloss within 1.3x of the floor). Prints one line per grid and a table.

Usage: python bench/bench_dryrun.py [--repeat 3] [--sizes 1000 10000] [--quick] [--profile] [--repo DIR]

The floor is generated from srloss's own dry-run listing (``floor_snakefile``): the same rule
names, the same wildcards (names and values), the same jobs and dependency edges, and the same
number of input, output, log and benchmark files per job, all of them plain strings; a `touch`
shell command, and no input, params or resource functions, no params, resources or conda
directive. It is checked to plan exactly srloss's jobs per rule, edges and files (``graph_shape``)
before it is timed.

Reports CPU time (user + system of the snakemake process: what the wall time is on an idle
machine, since planning is single-threaded) and wall time; srloss and floor dry runs alternate in
rounds, so load from other processes hits both alike; the ratio is of the median CPU times.
The config check (the first parse of a new config imports torch; its result is cached in
.snakemake/srloss/) runs once before the timed rounds and is reported apart.
Runs from a temporary folder (nothing is executed; no results are written to the repository).
--quick: a 16-run grid, one round (tests/test_bench.py). --profile also prints, for the first
size, where srloss's dry run and the floor's spend their time (cProfile, by part of Snakemake's
work) and srloss's own functions that take most. --repo times another checkout's workflow (its
Snakefile and src/) against the floor of its own plan, e.g. the commit before a change.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL = 1.3  # srloss's dry run within 1.3x of the floor's CPU time

# runs = models x losses x scales x seeds
GRIDS = {16: (2, 2, 2, 2), 1000: (5, 10, 4, 5), 10000: (10, 25, 4, 10)}
QUICK = 16


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


# --- the dry-run listing -------------------------------------------------------------------
FILES = ("input", "output", "log", "benchmark")  # a job's files, as a listing names them


def listed_jobs(listing: str) -> list[dict]:
    """Every job of a `snakemake -n` listing: rule, wildcards (in order) and files (``FILES``)."""
    jobs = []
    parts = re.split(r"^(?:local)?rule (\w+):$", listing, flags=re.M)
    for rule, body in zip(parts[1::2], parts[2::2]):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, re.M))
        files = {key: [f.split(" (")[0] for f in fields[key].split(", ")] if key in fields else [] for key in FILES}
        wildcards = dict(w.split("=", 1) for w in fields["wildcards"].split(", ")) if "wildcards" in fields else {}
        jobs.append({"rule": rule, "wildcards": wildcards, "jobid": int(fields["jobid"]), **files})
    return jobs


def graph_shape(jobs: list[dict]) -> tuple[Counter, int, Counter]:
    """Jobs per rule, the number of edges (jobs each job's inputs come from) and the number of
    files of each kind (``FILES``; inputs made by a job): what srloss's and the floor's plans share."""
    producer = {f: i for i, job in enumerate(jobs) for f in job["output"]}
    edges = sum(len({producer[f] for f in job["input"] if f in producer}) for job in jobs)
    made = {kind: [f for job in jobs for f in job[kind] if kind != "input" or f in producer] for kind in FILES}
    files = Counter({kind: len(found) for kind, found in made.items()})
    return Counter(job["rule"] for job in jobs), edges, files


# --- the floor -----------------------------------------------------------------------------
def infer_pattern(paths: list[str], wildcards: list[dict]) -> str:
    """The pattern that gives each of ``paths`` with its job's ``wildcards`` (``str.format``): the
    first path with occurrences of its job's wildcard values written as ``{name}``, the first such
    choice (every wildcard used; as many replaced as can be) that fits every path."""
    path, own = paths[0], wildcards[0]
    if "{" in path or "}" in path:
        sys.exit(f"bench_dryrun: {path!r} cannot be written as a pattern")
    found = sorted((m.start(), m.end(), n) for n, v in own.items() for m in re.finditer(re.escape(v), path))

    def search(i: int, free_from: int, chosen: list) -> str | None:
        if i == len(found):
            if {n for _, _, n in chosen} != set(own):
                return None
            pattern, last = "", 0
            for start, stop, name in chosen:
                pattern += f"{path[last:start]}{{{name}}}"
                last = stop
            pattern += path[last:]
            return pattern if all(pattern.format(**w) == p for p, w in zip(paths, wildcards)) else None
        start, stop, _ = found[i]
        take = search(i + 1, stop, [*chosen, found[i]]) if start >= free_from else None
        return take or search(i + 1, free_from, chosen)

    pattern = search(0, 0, [])
    if pattern is None:
        sys.exit(f"bench_dryrun: no pattern with wildcards {sorted(own)} gives {path!r} and its rule's other files")
    return pattern


def _renamed(pattern: str, dep: dict, job: dict) -> str:
    """``dep``'s ``pattern`` over ``job``'s wildcards: each of ``dep``'s wildcards becomes ``job``'s
    wildcard with its value (the same name first), else its literal value."""
    own, names = job["wildcards"], {}
    for name, value in dep["wildcards"].items():
        same = [name] if own.get(name) == value else [n for n, v in own.items() if v == value]
        names[name] = f"{{{same[0]}}}" if same else value
    return pattern.format(**names)


def _rule_text(rule: str, files: dict[str, list[str]], values: dict[str, list[str]], target: bool) -> str:
    lines = [f"rule {rule}:"] + (["    default_target: True"] if target else [])
    for kind in FILES:
        lines += [f"    {kind}:", *(f"        {f!r}," for f in files[kind])] if files[kind] else []
    if values:
        lines += ["    wildcard_constraints:"]
        lines += [f"        {n}={'|'.join(map(re.escape, v))!r}," for n, v in values.items()]
    lines += ['    shell:\n        "touch {output}"'] if files["output"] else []
    return "\n".join(lines)


def floor_snakefile(jobs: list[dict]) -> tuple[str, list[str]]:
    """A bare Snakefile with the job graph of ``jobs`` (see the module docstring), and the files
    that must exist for it. Each rule's output, log and benchmark patterns are srloss's (inferred
    from its jobs' files, ``infer_pattern``); its inputs are the patterns of the outputs its jobs
    read. Where a rule's jobs differ in their inputs (an untrained baseline has no training job),
    each job gets the rule's union of input patterns, and an input a job does not have is an
    existing file that no rule can make (each rule's wildcards are constrained to its jobs' values)."""
    rules: dict[str, list[dict]] = {}
    for job in jobs:
        rules.setdefault(job["rule"], []).append(job)
    patterns: dict[str, dict[str, list[str]]] = {}
    for rule, members in rules.items():
        counts = {kind: {len(job[kind]) for job in members} for kind in FILES[1:]}
        if any(len(c) != 1 for c in counts.values()) or len({tuple(job["wildcards"]) for job in members}) != 1:
            sys.exit(f"bench_dryrun: the jobs of rule {rule} differ in their files or wildcards")
        wildcards = [job["wildcards"] for job in members]
        patterns[rule] = {
            kind: [infer_pattern([job[kind][k] for job in members], wildcards) for k in range(counts[kind].pop())]
            for kind in FILES[1:]
        }
    producer = {f: (job, k) for job in jobs for k, f in enumerate(job["output"])}
    text, existing = [], []
    for rule, members in rules.items():
        made = [[producer[f] for f in job["input"] if f in producer] for job in members]  # (job, output index)
        inputs = [[_renamed(patterns[d["rule"]]["output"][k], d, job) for d, k in m] for job, m in zip(members, made)]
        union = list(dict.fromkeys(t for ts in inputs for t in ts))
        existing += [t.format(**job["wildcards"]) for job, ts in zip(members, inputs) for t in union if t not in ts]
        values = {n: sorted({job["wildcards"][n] for job in members}) for n in members[0]["wildcards"]}
        target = any(job["jobid"] == 0 for job in members)
        text.append(_rule_text(rule, {"input": union, **patterns[rule]}, values, target))
    return "\n\n\n".join(text) + "\n", existing


# --- timing --------------------------------------------------------------------------------
def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env(repo: Path | None) -> dict[str, str]:
    """This environment, with ``repo``'s srloss first on the Python path (None: as it is)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    if repo is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(repo / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def timed(cmd: list[str], workdir: Path, repo: Path | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds of one command (a child process; ``repo``: its srloss), and its output."""
    env = _env(repo)
    cpu, start = _children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"bench_dryrun: {' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return seconds, _children_cpu() - cpu, out.stdout


def srloss_dry_run(repo: Path) -> list[str]:
    return [str(BIN / "snakemake"), "-s", str(repo / "Snakefile"), "--configfile", "study.yaml", "-n"]


def floor_dry_run() -> list[str]:
    return [str(BIN / "snakemake"), "-s", "Snakefile", "-n"]


def check_config(workdir: Path, repo: Path) -> tuple[float, float]:
    """The config check the first parse of a new config runs (cached in .snakemake/srloss/, as the
    Snakefile does): wall and CPU seconds."""
    schema = str(repo / "workflow/schemas/config.schema.yaml")
    code = f"import srloss.study as s; s.load_study('study.yaml', cache_dir='.snakemake/srloss', schema={schema!r})"
    seconds, cpu, _ = timed([sys.executable, "-c", code], workdir, repo)
    return seconds, cpu


def make_floor(work: Path, listing: str) -> tuple[Path, tuple]:
    """Write the floor of srloss's listing under ``work``/floor; check that it plans the same graph
    (``graph_shape``) and return its folder and that shape."""
    jobs = listed_jobs(listing)
    floor = work / "floor"
    floor.mkdir(exist_ok=True)
    text, existing = floor_snakefile(jobs)
    (floor / "Snakefile").write_text(text)
    for path in existing:
        (floor / path).parent.mkdir(parents=True, exist_ok=True)
        (floor / path).touch()
    shape = graph_shape(jobs)
    _, _, floor_listing = timed(floor_dry_run(), floor)
    if graph_shape(listed_jobs(floor_listing)) != shape:
        sys.exit(f"bench_dryrun: the floor plans {graph_shape(listed_jobs(floor_listing))}, srloss {shape}")
    return floor, shape


def bench_size(work: Path, size: int, repeat: int, repo: Path = REPO) -> dict:
    """Time srloss's (``repo``'s workflow) and the floor's dry runs of one grid, alternating,
    ``repeat`` rounds each."""
    (work / "study.yaml").write_text(yaml.safe_dump(grid_config(*GRIDS[size])))
    check_wall, check_cpu = check_config(work, repo)
    _, _, listing = timed(srloss_dry_run(repo), work, repo)  # also warms the file system cache
    floor, (per_rule, edges, files) = make_floor(work, listing)
    times: dict[str, list[tuple[float, float]]] = {"srloss": [], "floor": []}
    for _ in range(repeat):
        times["srloss"].append(timed(srloss_dry_run(repo), work, repo)[:2])
        times["floor"].append(timed(floor_dry_run(), floor)[:2])
    row = {"size": size, "jobs": sum(per_rule.values()), "edges": edges, "files": sum(files.values())}
    row.update(check_cpu=check_cpu, check_wall=check_wall)
    for name, pairs in times.items():
        row[f"{name}_wall"] = statistics.median(w for w, _ in pairs)
        row[f"{name}_cpu"] = statistics.median(c for _, c in pairs)
    row["ratio"] = row["srloss_cpu"] / row["floor_cpu"]
    return row


# Parts of a dry run, each by the Snakemake function that does it: (label, file, function).
PROFILED = [
    ("whole dry run", "snakemake/cli.py", "main"),
    ("parse (Snakefile, rules)", "snakemake/workflow.py", "include"),
    ("jobs created", "snakemake/jobs.py", "__init__"),
    ("inputs (input functions)", "snakemake/rules.py", "expand_input"),
    ("params (params functions)", "snakemake/rules.py", "expand_params"),
    ("resources", "snakemake/rules.py", "expand_resources"),
    ("shell commands formatted", "snakemake/jobs.py", "shellcmd"),
    ("signatures read", "snakemake/common/__init__.py", "get_function_params"),
]


def _profiled(args: list[str], workdir: Path, repo: Path | None = None) -> pstats.Stats:
    """cProfile of `snakemake *args` run in ``workdir`` (``repo``: its srloss)."""
    out = (workdir / "dryrun.prof").resolve()
    code = (
        "import cProfile, sys; from snakemake.cli import main; sys.argv = ['snakemake', *%r];"
        "cProfile.run('\\ntry:\\n    main()\\nexcept SystemExit:\\n    pass', %r)"
    ) % (args, str(out))
    subprocess.run([sys.executable, "-c", code], cwd=workdir, env=_env(repo), capture_output=True)
    return pstats.Stats(str(out), stream=io.StringIO())


def _part_times(stats: pstats.Stats) -> dict[str, float]:
    times: dict[str, float] = {}
    for (file, _, function), (_, _, _, cumulative, _) in stats.stats.items():
        for label, where, name in PROFILED:
            if file.endswith(where) and function == name:
                times[label] = max(times.get(label, 0.0), cumulative)
    return times


def profile(work: Path, repo: Path = REPO) -> str:
    """Where srloss's dry run spends its time next to the floor's (cProfile, cumulative seconds
    under the profiler), and srloss's own functions that take most."""
    srloss = _profiled(srloss_dry_run(repo)[1:], work, repo)
    floor = _profiled(["-n"], work / "floor")
    ours, bare = _part_times(srloss), _part_times(floor)
    lines = ["| part (cProfile, s) | srloss | floor | difference |", "|---|---|---|---|"]
    for label, _, _ in PROFILED:
        a, b = ours.get(label, 0.0), bare.get(label, 0.0)
        lines.append(f"| {label} | {a:.2f} | {b:.2f} | {a - b:+.2f} |")
    own = io.StringIO()
    srloss.stream = own
    srloss.sort_stats("cumulative").print_stats(re.escape(str(repo)), 25)
    return "\n".join(lines) + "\n\nsrloss's own functions:\n" + own.getvalue()


def describe(row: dict) -> str:
    shape = GRIDS[row["size"]]
    return (
        f"{row['size']:>6} runs ({shape[0]} models x {shape[1]} losses x {shape[2]} scales x {shape[3]} seeds), "
        f"{row['jobs']} jobs, {row['edges']} edges, {row['files']} files: srloss CPU {row['srloss_cpu']:.2f} s (wall "
        f"{row['srloss_wall']:.2f} s), floor CPU {row['floor_cpu']:.2f} s (wall {row['floor_wall']:.2f} s), "
        f"ratio {row['ratio']:.2f}x (goal <= {GOAL}x); config check (first parse only) CPU {row['check_cpu']:.2f} s"
    )


def table(rows: list[dict], repeat: int) -> str:
    lines = [
        "| grid | jobs | edges | srloss `-n` CPU | floor `-n` CPU | ratio | srloss wall | floor wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']:,} runs | {r['jobs']:,} | {r['edges']:,} | {r['srloss_cpu']:.2f} s | {r['floor_cpu']:.2f} s "
            f"| {r['ratio']:.2f}x | {r['srloss_wall']:.2f} s | {r['floor_wall']:.2f} s |"
        )
    return "\n".join(lines) + f"\n(medians of {repeat} rounds)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], choices=sorted(GRIDS))
    ap.add_argument("--quick", action="store_true", help=f"the {QUICK}-run grid, one round")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repo", type=Path, default=REPO, help="time this checkout's workflow (e.g. before a change)")
    args = ap.parse_args()
    repo = args.repo.resolve()
    sizes, repeat = ([QUICK], 1) if args.quick else (args.sizes, args.repeat)
    print(f"workflow: {repo}; machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            work = Path(tmp) / str(size)
            work.mkdir()
            rows.append(bench_size(work, size, repeat, repo))
            print(describe(rows[-1]), flush=True)
            if args.profile and size == sizes[0]:
                print(profile(work, repo))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(table(rows, repeat))


if __name__ == "__main__":
    main()
