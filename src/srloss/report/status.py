"""Where a study stands, read from its files alone: what ``srloss status`` prints.

Only files are read (no Snakemake, no lock, no torch), so it works while Snakemake runs and on a
SLURM login node: per run ``train.done``, ``run.json``, ``metrics.csv`` and ``eval.json``, the heartbeat
``progress.json`` (``srloss.training.progress``) and the end of its job logs. A trained run is

* ``done``: trained (``train.done``) and evaluated on its own test set (``evaluated_at``);
* ``outdated``: trained for another config (run.json's spec is not the study's spec for it):
  the next snakemake run trains it again;
* ``trained``: trained, its evaluation still to come;
* ``training``: its heartbeat was updated within ``stale_after`` seconds (or three logging
  windows at its pace, if longer) and its process, when it runs on this host, is alive;
* ``failed``: its train (or evaluate) job's log ends in an ``srloss: error:`` line or a
  traceback (the cause: that line, or the traceback's exception);
* ``stalled``: a heartbeat that stopped, and no ``train.done``: the job was killed or preempted, or
  its node was lost; the next attempt resumes from ``checkpoint.pt``;
* ``pending``: none of these yet.

An untrained baseline is done once evaluated, failed when its evaluation failed, else pending.

This module sits with the report stage: like ``aggregate`` it reads a ``Study`` and the files the
other stages leave, and it writes nothing. ``read_run`` and ``collect`` read the files; everything
else is a pure function of a ``Study``, those readings and the time.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from srloss.report.paths import STALE_DIR, VERDICT_STEM
from srloss.study import Run, Study, loss_training, run_length, to_json
from srloss.training.progress import HEARTBEAT

STATES = ("done", "trained", "training", "stalled", "failed", "outdated", "pending")  # the summary's order
STALE_AFTER_S = 600.0  # a heartbeat older than this (and than three logging windows) has stopped (--stale-after)
ERROR_PREFIX = "srloss: error:"  # srloss.errors.one_line_errors
TRACEBACK = "Traceback (most recent call last):"
LOG_TAIL_BYTES = 16384  # enough for a traceback; a 1000-run study reads no more than that per log


# ----- the workflow's file names (workflow/rules/common.smk, train.smk, evaluate.smk) ---------------


def run_id(run: Run) -> str:
    """``<dataset>/<model>/<loss>/x<scale>/seed<seed>``: a run's folder and log name under results/<study>/."""
    return f"{run.dataset}/{run.model}/{run.loss}/x{run.scale}/seed{run.seed}"


def run_dir(root: Path, run: Run) -> Path:
    return root / "runs" / run_id(run)


def train_log(root: Path, run: Run) -> Path:
    return root / "logs" / "train" / f"{run_id(run)}.log"


def evaluate_log(root: Path, run: Run, test_set: str | None = None) -> Path:
    """The evaluate job's log on the run's own test set, or (``test_set``) on another dataset's."""
    if test_set is None:
        return root / "logs" / "evaluate" / f"{run_id(run)}.log"
    return root / "logs" / "evaluate" / run_id(run) / "on" / f"{test_set}.log"


def evaluation_dir(root: Path, run: Run, test_set: str | None = None) -> Path:
    """Where the evaluation on the run's own test set, or (``test_set``) on another dataset's, goes."""
    folder = run_dir(root, run)
    return folder if test_set is None else folder / "on" / test_set


# ----- reading the files ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFiles:
    """What one run's folder and job logs say (``read_run``)."""

    done: bool = False  # train.done
    evaluated_at: float | None = None  # the evaluation's end (``evaluated_at``)
    record: dict | None = None  # run.json, once trained
    heartbeat: dict | None = None  # progress.json, while not trained
    alive: bool | None = None  # whether the heartbeat's process runs (None: another host)
    train_error: str | None = None  # failure_cause of the train log
    evaluate_error: str | None = None  # failure_cause of the evaluate log
    last_log_line: str = ""  # the train log's last line


def tail(path: Path, size: int = LOG_TAIL_BYTES) -> str | None:
    """The last ``size`` bytes of a text file, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace")
    except OSError:
        return None


def failure_cause(log_tail: str | None) -> str | None:
    """The one-line cause when a job log ends in a failure: its last line when that is an
    ``srloss: error:`` line, else the exception line of its last traceback; None otherwise."""
    lines = [line.rstrip() for line in (log_tail or "").splitlines() if line.strip()]
    if lines and lines[-1].startswith(ERROR_PREFIX):
        return lines[-1]
    if TRACEBACK not in lines:
        return None
    after = lines[len(lines) - lines[::-1].index(TRACEBACK) :]
    exception = [line for line in after if not line.startswith((" ", "\t"))]
    return exception[0] if exception else lines[-1]


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def modified(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def evaluation_end(folder: Path) -> float | None:
    """When the evaluation in ``folder`` finished: eval.json's time, the evaluate job's last write
    (after metrics.csv and crops.npz); None while either is missing."""
    return modified(folder / "eval.json") if (folder / "metrics.csv").exists() else None


def process_alive(heartbeat: dict) -> bool | None:
    """Whether the heartbeat's process still runs; None when it ran on another host (unknowable here)."""
    if heartbeat.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(heartbeat["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError):  # another user's process, or no pid: assume it runs
        return True
    return True


def read_run(root: Path, run: Run) -> RunFiles:
    """Read one run's files; the logs only when no other file says how the run stands."""
    folder = run_dir(root, run)
    evaluated_at = evaluation_end(evaluation_dir(root, run))
    evaluate_error = None if evaluated_at else failure_cause(tail(evaluate_log(root, run)))
    if not run.trained:
        return RunFiles(evaluated_at=evaluated_at, evaluate_error=evaluate_error)
    if (folder / "train.done").exists():
        record = read_json(folder / "run.json")
        return RunFiles(done=True, evaluated_at=evaluated_at, record=record, evaluate_error=evaluate_error)
    heartbeat = read_json(folder / HEARTBEAT)
    log = tail(train_log(root, run)) or ""
    return RunFiles(
        heartbeat=heartbeat,
        alive=process_alive(heartbeat) if heartbeat else None,
        train_error=failure_cause(log),
        last_log_line=(log.rstrip().splitlines() or [""])[-1],
    )


# ----- how each run stands ----------------------------------------------------------------------


def heartbeat_fresh(heartbeat: dict, now: float, stale_after: float) -> bool:
    """Updated within ``stale_after`` seconds, or within three logging windows at its pace if longer."""
    window = heartbeat["log_every"] / heartbeat["steps_per_s"] if heartbeat.get("steps_per_s") else 0.0
    return now - heartbeat["updated"] <= max(stale_after, 3 * window)


def run_state(files: RunFiles, trained: bool, spec: dict, now: float, stale_after: float) -> str:
    """One of ``STATES`` (the module docstring says what each means)."""
    if not trained:
        return "done" if files.evaluated_at else "failed" if files.evaluate_error else "pending"
    if files.done:
        if files.record is not None and to_json(files.record.get("spec", {})) != to_json(spec):
            return "outdated"
        return "done" if files.evaluated_at else "failed" if files.evaluate_error else "trained"
    beat = files.heartbeat
    if beat is not None and files.alive is not False and heartbeat_fresh(beat, now, stale_after):
        return "training"
    if files.train_error:
        return "failed"
    return "stalled" if beat is not None else "pending"


@dataclass(frozen=True)
class RunStatus:
    run: Run
    state: str
    files: RunFiles


@dataclass(frozen=True)
class Failure:
    """A failed job: what ran (a run id, ``on <test set>`` for a cross-dataset evaluation), its stage,
    the cause (one line) and its log."""

    what: str
    stage: str
    cause: str
    log: Path


def run_failure(root: Path, status: RunStatus) -> Failure:
    files = status.files
    if files.train_error:
        return Failure(run_id(status.run), "train", files.train_error, train_log(root, status.run))
    return Failure(run_id(status.run), "evaluate", files.evaluate_error or "", evaluate_log(root, status.run))


# ----- the estimate -----------------------------------------------------------------------------

Cell = tuple[str, str, str, int]  # (dataset, model, loss, scale): runs that differ only in their seed


def cell(run: Run) -> Cell:
    return (run.dataset, run.model, run.loss, run.scale)


def paces(statuses: list[RunStatus]) -> dict[Cell, list[float]]:
    """Seconds per step by cell: each trained run's (run.json ``seconds`` / ``steps_done``; not an
    outdated one's, trained for another config) and each training or stalled run's (1 / its
    heartbeat's last window's steps/s)."""
    found: dict[Cell, list[float]] = {}
    for s in statuses:
        record, beat = s.files.record, s.files.heartbeat
        if record and record.get("steps_done") and s.state != "outdated":
            found.setdefault(cell(s.run), []).append(record["seconds"] / record["steps_done"])
        elif s.state in ("training", "stalled") and beat.get("steps_per_s"):
            found.setdefault(cell(s.run), []).append(1 / beat["steps_per_s"])
    return found


def lengths(statuses: list[RunStatus], planned: Callable[[Run], int | None]) -> dict[Cell, int]:
    """Steps per run by cell: ``planned`` (the config), else what a run of the cell planned
    (a length in epochs depends on the number of training patches)."""
    found = {cell(s.run): planned(s.run) for s in statuses if s.run.trained}
    for s in statuses:
        known = (s.files.record or {}).get("steps_planned") or (s.files.heartbeat or {}).get("total")
        if found.get(cell(s.run)) is None and known:
            found[cell(s.run)] = known
    return {c: n for c, n in found.items() if n is not None}


@dataclass(frozen=True)
class Estimate:
    """Training time left: ``seconds`` until the last run is trained (None: no pace known yet),
    ``work`` (the runs' remaining seconds added up), over ``runs`` runs, ``in_flight`` at once;
    ``unknown`` runs had no pace or length to go by."""

    seconds: float | None
    work: float
    runs: int
    in_flight: int
    unknown: int


def estimate(statuses: list[RunStatus], planned: Callable[[Run], int | None]) -> Estimate:
    """Each run's remaining steps x its seconds per step, added up and divided by the runs in flight.

    A training run: its own remaining steps at its own pace. A pending, stalled or outdated run:
    its whole length (``lengths``; a stalled run resumes from its checkpoint, so this errs long)
    at the mean pace of the runs of its cell, else of all runs that have one (``paces``). Failed
    runs wait for a fix and are left out, as is evaluation. The result is at least the longest
    training run's own remaining time.
    """
    by_cell, steps = paces(statuses), lengths(statuses, planned)
    everyone = [p for ps in by_cell.values() for p in ps]
    in_flight = sum(s.state == "training" for s in statuses)
    work, longest, runs, unknown = 0.0, 0.0, 0, 0
    for s in statuses:
        pace = by_cell.get(cell(s.run)) or everyone
        if s.state == "training":
            beat = s.files.heartbeat
            rate = beat.get("steps_per_s") or (1 / statistics.mean(pace) if pace else None)
            left = (beat["total"] - beat["step"]) / rate if rate else None
            longest = max(longest, left or 0.0)
        elif s.state in ("pending", "stalled", "outdated") and s.run.trained:
            n = steps.get(cell(s.run))
            left = n * statistics.mean(pace) if pace and n else None
        else:
            continue
        runs, unknown = runs + (left is not None), unknown + (left is None)
        work += left or 0.0
    seconds = max(work / max(in_flight, 1), longest) if runs or not unknown else None
    return Estimate(seconds, work, runs, in_flight, unknown)


# ----- the whole study --------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyStatus:
    """Everything ``srloss status`` prints."""

    study: str
    root: Path
    at: float  # when it was read (time.time())
    runs: list[RunStatus]
    estimate: Estimate
    stale_after: float
    cross: tuple[int, int]  # (evaluated, total) evaluations on other datasets' test sets
    budget: tuple[int, int] | None = None  # (evaluated, total) step evaluations (evaluation.steps), None without
    failures: list[Failure] = field(default_factory=list)  # the runs', then the cross-dataset evaluations'
    verdict_at: float | None = None  # tables/verdict.md's modification time
    last_evaluation: float | None = None  # when the last evaluation ended
    strays: list[str] = field(default_factory=list)  # folders under runs/ that the study no longer has
    set_aside: int = 0  # files aggregation moved to stale/

    def count(self, state: str) -> int:
        return sum(s.state == state for s in self.runs)


def stray_folders(root: Path, study: Study) -> list[str]:
    """Run folders under ``root/runs`` not in the grid (a model, loss, seed, ... removed from the
    config), and cross-dataset evaluations no longer in a run's ``test_on``, relative to ``root``."""
    runs = {run_id(run): run for run in study.runs()}
    strays = []
    for folder in sorted((root / "runs").glob("*/*/*/x*/seed*")):
        if not folder.is_dir():
            continue
        name = folder.relative_to(root / "runs").as_posix()
        if name not in runs:
            strays.append(f"runs/{name}")
            continue
        tested = set(study.test_sets(runs[name].dataset)[1:])
        strays += [f"runs/{name}/on/{t.name}" for t in sorted((folder / "on").glob("*")) if t.name not in tested]
    return strays


def stray_groups(strays: list[str]) -> list[tuple[str, int]]:
    """``stray_folders`` summarised for reading: run folders by dataset/model/loss
    (``runs/<d>/<m>/<l>``), cross-dataset evaluations by that and their test set
    (``runs/<d>/<m>/<l>/.../on/<test set>``), with how many folders each holds."""
    groups: dict[str, int] = {}
    for name in strays:
        parts = name.split("/")
        key = "/".join(parts[:4]) + ("/.../" + "/".join(parts[6:]) if len(parts) > 6 else "")
        groups[key] = groups.get(key, 0) + 1
    return list(groups.items())


def cross_evaluations(study: Study, root: Path) -> tuple[list[float | None], list[Failure]]:
    """When each evaluation on another dataset's test set (``test_on``) ended (None: not yet), and
    the failed ones."""
    ends, failures = [], []
    for run, test_set in study.cross_evaluations():
        ends.append(evaluation_end(evaluation_dir(root, run, test_set)))
        log = evaluate_log(root, run, test_set)
        cause = None if ends[-1] else failure_cause(tail(log))
        if cause:
            failures.append(Failure(f"{run_id(run)} on {test_set}", "evaluate", cause, log))
    return ends, failures


def budget_evaluations(study: Study, root: Path) -> tuple[int, int] | None:
    """(ended, planned) evaluations of the weights saved at ``evaluation.steps``; None without any."""
    steps = study.config["evaluation"].get("steps", [])
    if not steps:
        return None
    trained = [run for run in study.runs() if run.trained]
    ended = sum(evaluation_end(run_dir(root, run) / "steps" / str(n)) is not None for run in trained for n in steps)
    return ended, len(trained) * len(steps)


def collect(study: Study, root: Path, now: float, stale_after: float = STALE_AFTER_S) -> StudyStatus:
    """Read the files of ``study`` under ``root`` (results/<study>) and say how it stands at ``now``."""
    statuses = []
    for run in study.runs():
        files = read_run(root, run)
        spec = study.run_spec(run) if files.record is not None else {}
        statuses.append(RunStatus(run, run_state(files, run.trained, spec, now, stale_after), files))
    cross_ends, cross_failures = cross_evaluations(study, root)
    ends = [t for t in [s.files.evaluated_at for s in statuses] + cross_ends if t is not None]
    set_aside = root / STALE_DIR
    return StudyStatus(
        study=study.name,
        root=root,
        at=now,
        runs=statuses,
        estimate=estimate(statuses, lambda run: planned_steps(study, run)),
        stale_after=stale_after,
        cross=(len(cross_ends) - cross_ends.count(None), len(cross_ends)),
        budget=budget_evaluations(study, root),
        failures=[run_failure(root, s) for s in statuses if s.state == "failed"] + cross_failures,
        verdict_at=modified(root / f"{VERDICT_STEM}.md"),
        last_evaluation=max(ends, default=None),
        strays=stray_folders(root, study),
        set_aside=sum(p.is_file() for p in set_aside.rglob("*")) if set_aside.is_dir() else 0,
    )


def planned_steps(study: Study, run: Run) -> int | None:
    """A run's length as its loss's ``training`` fixes it; None when it is set in epochs of the data."""
    return run_length(loss_training(study.config["training"], study.config["losses"][run.loss]))


def failed_logs(root: Path, since: float) -> list[tuple[Path, str]]:
    """(log, cause) of every job log under ``root``/logs written since ``since`` that ends in a
    failure (``failure_cause``), oldest first: what a run that just failed should show."""
    logs = [(modified(p), p) for p in (root / "logs").rglob("*.log")]
    found = [(t, p, failure_cause(tail(p))) for t, p in logs if t is not None and t >= since]
    return [(p, cause) for _, p, cause in sorted(found) if cause]


def run_summary(root: Path, since: float, failed: bool, report_command: str, shown: int = 10) -> list[str]:
    """The lines that end a workflow run: each failed job's cause and log, or where the results are."""
    if not failed:
        return [
            f"srloss: done: the verdict is {root / 'tables/verdict.md'}, the tables and figures are in "
            f"{root / 'tables'} and {root / 'figures'}; for the report: {report_command}"
        ]
    failures = failed_logs(root, since)
    lines = [f"srloss: {len(failures)} job(s) failed:" if failures else "srloss: the run failed (see above)"]
    for log, cause in failures[:shown]:
        lines.append(f"  {cause}  (log: {log})")
    if len(failures) > shown:
        lines.append(f"  ... and {len(failures) - shown} more (srloss status lists them)")
    return lines + ["fix what the lines say and run the same command again: finished jobs are kept"]
