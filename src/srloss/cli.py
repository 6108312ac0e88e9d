"""``srloss``: what the workflow's rules call, plus ``srloss check`` and ``srloss status`` for people.

Each job's definition arrives as one JSON spec (built by ``srloss.study.Study``), so a rule
needs no logic of its own and the same command can be run by hand. ``srloss check CONFIG``
validates a study the way the Snakefile does and prints its grid, without Snakemake;
``srloss status CONFIG`` says how far a running or finished study is, from its files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import srloss
from srloss.errors import EXIT_USER_ERROR, one_line_errors  # noqa: E402

if TYPE_CHECKING:
    from srloss.report.status import RunStatus, StudyStatus


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e


def _usage_error(message: str) -> int:
    """A wrong command line: one line on stderr and exit code 2, as argparse does."""
    print(f"srloss: error: {message}", file=sys.stderr)
    return 2


# ----- one function per subcommand: each gets the parsed arguments, returns the exit code ----------


def cmd_prepare(args: argparse.Namespace) -> int:
    from srloss.data.prepare import prepare

    out = {s: getattr(args, s) for s in ("train", "val", "test") if getattr(args, s)}
    if not out:
        return _usage_error("prepare: give at least one of --train, --val, --test")
    location = (args.locations or {}).get(args.dataset, {}) if args.dataset else {}
    prepare({**args.spec, **location}, args.scale, out)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from srloss.atomic import prepare_outputs, write_text
    from srloss.errors import UserError
    from srloss.training.loop import Preempted, train

    # Snakemake retries a failed train job (retries: 1) whatever its exit code; a user error (exit 3)
    # would fail again the same way, so the retry repeats the first attempt's message and stops
    user_error = Path(args.record).with_name(".user-error")
    if args.attempt > 1 and user_error.exists():
        print(f"srloss: error: {user_error.read_text().strip()} (attempt {args.attempt}: not retried)", file=sys.stderr)
        return EXIT_USER_ERROR
    user_error.unlink(missing_ok=True)
    prepare_outputs(*(p for p in (args.model, args.history, args.record, args.best, args.done) if p))
    execution = dict(args.execution or {})
    if args.threads is not None:
        execution["threads"] = args.threads
    try:
        record = train(
            args.spec,
            args.train_shard,
            args.val_shard,
            args.model,
            args.history,
            args.record,
            best_out=args.best,
            checkpoint_path=args.checkpoint,
            init_weights=args.init_weights,
            execution=execution,
        )
    except Preempted as e:
        logging.warning("%s; rerun the same command to resume", e)
        return e.exit_code
    except UserError as e:
        write_text(user_error, str(e) + "\n")
        raise
    logging.info("run status: %s", record["status"])
    if args.done:  # written last: the run's files are complete and belong to this spec
        write_text(args.done, json.dumps({"status": record["status"]}) + "\n")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from srloss.atomic import prepare_outputs
    from srloss.evaluation.measure import DEFAULT_EVALUATION, evaluate

    prepare_outputs(*(p for p in (args.metrics, args.record, args.crops) if p))
    given = {
        "device": args.device,
        "batch_size": args.batch_size,
        "tile": args.tile,
        "max_batch_pixels": args.max_pixels,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    evaluation = {**(args.evaluation or DEFAULT_EVALUATION), **overrides}
    evaluate(
        args.spec,
        args.checkpoint,
        args.test_shard,
        args.metrics,
        args.record,
        args.threads,
        evaluation=evaluation,
        crops_out=args.crops,
    )
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    from srloss.atomic import prepare_outputs
    from srloss.report.aggregate import aggregate

    prepare_outputs(args.per_image, args.summary_csv, args.summary_md, args.figure, args.provenance)
    out = {
        "per_image": args.per_image,
        "summary_csv": args.summary_csv,
        "summary_md": args.summary_md,
        "figure": args.figure,
        "provenance": args.provenance,
    }
    if args.root:
        out["root"] = args.root
    if args.description:
        out["description"] = args.description
    if args.budget_ranking:
        out["budget_ranking"] = args.budget_ranking
    aggregate(args.metrics, args.config, out, val_paths=args.val_metrics)
    return 0


def cmd_budget(args: argparse.Namespace) -> int:
    from srloss.atomic import prepare_outputs
    from srloss.report.budget import write_budget

    prepare_outputs(args.table, args.ranking, *args.figures)
    out = {"table": args.table, "ranking": args.ranking, "figures": args.figures}
    alpha = {} if args.alpha is None else {"alpha": args.alpha}  # None: evaluation.alpha's default
    tuned = {"val_metrics": args.val_metrics, "tuned": args.tuned}
    write_budget(args.step_metrics, args.final_metrics, args.records, out, args.baselines, **alpha, **tuned)
    return 0


def cmd_fetch_weights(args: argparse.Namespace) -> int:
    from srloss import weights

    if not args.backbones and not args.config:
        names = ", ".join(weights.WEIGHT_FILES)
        return _usage_error(f"fetch-weights: name backbones ({names}) or give --config")
    backbones = list(args.backbones)
    if args.config:
        from srloss.losses import required_backbones
        from srloss.study import load_yaml

        for loss in load_yaml(args.config).get("losses", {}).values():
            backbones += required_backbones(loss.get("terms", []))
    paths = weights.fetch(sorted(set(backbones)), args.torch_home, args.base_url)
    for path in paths:
        logging.info("cached: %s", path)
    if not paths:
        logging.info("nothing to fetch: no term of the config uses pretrained ImageNet weights")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from srloss import generate

    if args.check:
        stale = generate.stale()
        for path in stale:
            print(f"srloss generate: {path} differs from what the declarations generate; run `srloss generate`")
        return 1 if stale else 0
    for path in generate.write():
        print(f"written: {path}")
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from srloss.evaluation.upscale import upscale

    for path in upscale(args.run, args.images, args.out, args.device, args.tile):
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from srloss.evaluation.compare import compare

    print(compare(args.image, args.runs, args.out, args.crop, args.hr, args.device, args.tile))
    return 0


def cmd_gpu_run(args: argparse.Namespace) -> int:
    from srloss.gpu import exec_on_free_gpu

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        return _usage_error("gpu-run: no command given; usage: srloss gpu-run -- <command> [args...]")
    exec_on_free_gpu(cmd)  # does not return
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from srloss.study import ConfigError, load_study

    try:
        study = load_study(args.config)  # the workflow's own entry point: check = run
        lines = grid_summary(study)
    except ConfigError as e:
        print(f"srloss check: {args.config}: {e}", file=sys.stderr)
        return 1
    print(f"{args.config}: valid")
    print("\n".join(lines + [f"warning: {w}" for w in study.warnings()]))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from srloss.report.status import STALE_AFTER_S, collect
    from srloss.study import ConfigError, load_study

    cache = Path(".snakemake/srloss")  # the workflow's record of checked configs: no torch import when it has this one
    try:
        study = load_study(args.configs, args.config, cache_dir=cache if cache.is_dir() else None)
    except ConfigError as e:
        print(f"srloss status: {' '.join(args.configs)}: {e}", file=sys.stderr)
        return 1
    stale_after = STALE_AFTER_S if args.stale_after is None else args.stale_after * 60
    status = collect(study, Path("results") / study.name, time.time(), stale_after)
    print("\n".join(status_lines(status, args.all)))
    return 0


# ----- srloss check -----------------------------------------------------------------------------


def planned_jobs(study, torch_home: str | Path | None = None) -> Counter:
    """The jobs ``snakemake`` runs for a fresh study, by rule (``tests/test_cli.py`` compares them
    with Snakemake's own plan): downloads and weight files only where not already there."""
    from srloss.data.sources import archives_to_fetch, fetch_marker
    from srloss.weights import weight_path

    config, runs = study.config, study.runs()
    trained = [r for r in runs if r.trained]
    steps = config["evaluation"]["steps"]
    archives = {a.name: a for ds in config["datasets"].values() for a in archives_to_fetch(ds)}
    jobs = Counter(
        {
            "fetch_archive": sum(not fetch_marker(a).exists() for a in archives.values()),
            # the losses' weight files are inputs of training; the metrics' are fetched by `fetch_weights` only
            "fetch_weight": sum(not weight_path(b, torch_home).exists() for b in study.backbones()),
            "prepare": len(study.shards()),  # one per split and scale (a test set has one split)
            "train": len(trained),
            "evaluate": len(runs),
            "evaluate_on": len(study.cross_evaluations()),
            "evaluate_step": len(trained) * len(steps),
            "evaluate_val": sum(study.is_tuned(r.loss) for r in trained),  # losses.<name>.tune
            "aggregate": 1,
            "budget": 1 if steps else 0,
            "all": 1,
        }
    )
    return +jobs  # rules without jobs are left out


def study_weights(study) -> list[str]:
    """The pretrained weight files the study's losses and metrics load (``srloss.weights.WEIGHT_FILES`` names)."""
    from srloss.metrics import metric_backbones

    return sorted(set(study.backbones()) | set(metric_backbones(study.config["evaluation"])))


def training_estimate(study) -> str:
    """The study's estimated training CPU time (``srloss.training.estimate``), in words."""
    from srloss.data.sources import dataset_frames, patch_at
    from srloss.study import loss_training, run_length
    from srloss.training.estimate import training_cpu_seconds

    config, runs, unknown = study.config, [], 0
    for run in (r for r in study.runs() if r.trained):
        training = loss_training(config["training"], config["losses"][run.loss])
        steps = run_length(training)
        if steps is None:  # epochs over the training patches: known once the shard exists
            unknown += 1
            continue
        ds, model = config["datasets"][run.dataset], study.models[run.model]
        side = patch_at(ds, "patch_size", run.scale) // run.scale
        frames = dataset_frames(ds) if dataset_frames(ds) > 1 else None
        runs.append((model["arch"], run.scale, model.get("options", {}), training["batch_size"], side, frames, steps))
    seconds = training_cpu_seconds(runs)
    amount = f"{seconds / 3600:.1f} CPU-hours" if seconds >= 3600 else f"{seconds / 60:.0f} CPU-minutes"
    text = (
        f"estimated training time: {amount} for {len(runs)} runs (an estimate from the models' "
        "multiply-accumulates, calibrated on the demo's CPU time; loss networks, validation and evaluation add "
        "to it; GPU time is not estimated: no GPU has been measured)"
    )
    return text + (f"; {unknown} runs set in epochs are not counted" if unknown else "")


def grid_summary(study) -> list[str]:
    """What ``snakemake`` would do for a checked ``srloss.study.Study``: runs, jobs per rule, downloads, time."""
    from srloss.data.sources import archives_to_fetch
    from srloss.weights import WEIGHT_FILES, weight_path

    config = study.config
    runs = study.runs()
    trained = [r for r in runs if r.trained]
    jobs = planned_jobs(study)
    archives = sorted({a.filename for ds in config["datasets"].values() for a in archives_to_fetch(ds)})
    weights = study_weights(study)
    missing = [WEIGHT_FILES[b].file for b in weights if not weight_path(b).exists()]
    cached = [WEIGHT_FILES[b].file for b in weights if weight_path(b).exists()]
    return [
        f"study {study.name}: results in results/{study.name}/",
        f"runs: {len(runs)} ({len(trained)} trained: {len(study.training_datasets())} datasets x "
        f"{sum(study.is_trained(m) for m in study.models)} trained models x {len(config['losses'])} losses x "
        f"{len(config['scales'])} scales x {len(config['seeds'])} seeds; "
        f"{len(runs) - len(trained)} untrained baselines)",
        *_tuning_lines(config["losses"]),
        "jobs: " + ", ".join(f"{rule} {n}" for rule, n in jobs.items()) + f" (total {sum(jobs.values())})",
        "tested on: " + "; ".join(f"{d} -> {', '.join(study.test_sets(d))}" for d in study.training_datasets()),
        "dataset archives to fetch: " + (", ".join(archives) or "none"),
        "weight files to fetch: "
        + (", ".join(missing) or "none")
        + (f" (cached already: {', '.join(cached)})" if cached else ""),
        training_estimate(study),
    ]


def _tuning_lines(losses: dict) -> list[str]:
    """One line per tuned loss (losses.<name>.tune): its grid points count as losses above."""
    from srloss.tuning import tuned_points

    points = tuned_points(losses).values()
    counts = Counter(entry["loss"] for entry in points)
    by = {entry["loss"]: entry["select_by"] for entry in points}
    return [
        f"tuned: {loss}: {n} grid points, selected on the validation split by {by[loss]}" for loss, n in counts.items()
    ]


# ----- srloss status ----------------------------------------------------------------------------

LISTED = 10  # runs listed per state, and failures shown, unless --all
HEADINGS = {
    "training": "training:",
    "stalled": "stalled (no train.done; heartbeat older than {stale} or its process ended: killed, preempted or "
    "node lost; a retry or the next snakemake run resumes them from checkpoint.pt):",
    "failed": "failed:",
    "outdated": "outdated (trained for an earlier config: the next snakemake run trains them again):",
    "trained": "trained, to be evaluated:",
    "pending": "pending:",
    "done": "done:",
}
SHOWN = ("training", "stalled", "failed", "outdated")  # listed by default; the other states with --all


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def _runs(n: int) -> str:
    return f"{n} run{'s' * (n != 1)}"


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def _run_line(status: RunStatus, now: float) -> str:
    """One run: its id, and where its heartbeat stands."""
    from srloss.report.status import run_id

    line, beat = run_id(status.run), status.files.heartbeat
    if beat is None:
        return line
    line += f": step {beat['step']}/{beat['total']}"
    if status.state == "training":
        rate = beat.get("steps_per_s")
        pace = (
            f", {rate:.3g} steps/s, {_duration((beat['total'] - beat['step']) / rate)} left" if rate else ", starting"
        )
        return line + f"{pace} ({beat['device']} on {beat['host']}, updated {_duration(now - beat['updated'])} ago)"
    ended = ", its process has ended" if status.files.alive is False else ""
    last = status.files.last_log_line[:160]
    return (
        line
        + f", last heartbeat {_duration(now - beat['updated'])} ago ({beat['host']}, pid {beat['pid']}{ended})"
        + (f"; log: {last}" if last else "")
    )


def _capped(items: list[str], show_all: bool) -> list[str]:
    """``items``, the first ``LISTED`` unless ``show_all``."""
    if show_all or len(items) <= LISTED:
        return items
    return items[:LISTED] + [f"  ... and {len(items) - LISTED} more (srloss status --all)"]


def _eta_lines(status: StudyStatus) -> list[str]:
    est = status.estimate
    if est.runs == 0 and est.unknown == 0:
        return ["training: nothing left to train" + (" but the failed runs" if status.count("failed") else "")]
    if est.seconds is None:
        return [f"ETA: unknown until a run finishes or reports its pace ({_runs(est.unknown)} to train)"]
    flight = f"{_runs(est.in_flight)} in flight" if est.in_flight else "none in flight now: one at a time"
    left_out = f"; {_runs(est.unknown)} without a known pace or length left out" if est.unknown else ""
    return [
        f"ETA: {_duration(est.seconds)} until the last run is trained (an estimate: {_duration(est.work)} of "
        f"training left in {_runs(est.runs)}, {flight}{left_out})",
        "  how: each run's remaining steps x seconds per step: a training run's own pace, else the mean of the "
        "trained, training and stalled runs of its dataset/model/loss/scale, else of all runs;",
        "  added up, divided by the runs in flight, at least the longest training run's time left; stalled runs "
        "count in full; failed runs and evaluation are left out",
    ]


def _output_lines(status: StudyStatus, show_all: bool) -> list[str]:
    """How far evaluation and aggregation are, and the folders no longer in the study."""
    from srloss.report.paths import STALE_DIR, VERDICT_STEM
    from srloss.report.status import stray_groups

    root = status.root
    evaluated = sum(r.files.evaluated_at is not None for r in status.runs)
    evaluation = f"evaluation: {evaluated}/{len(status.runs)} runs on their own test set"
    if status.cross[1]:
        evaluation += f", {status.cross[0]}/{status.cross[1]} on other test sets (test_on)"
    if status.budget:
        evaluation += f", {status.budget[0]}/{status.budget[1]} budget steps (evaluation.steps)"
    verdict = root / f"{VERDICT_STEM}.md"
    if status.verdict_at is None:
        aggregation = f"aggregation: not yet ({verdict} is written once every run is evaluated)"
    elif status.last_evaluation and status.last_evaluation > status.verdict_at:
        aggregation = f"aggregation: {verdict} of {_when(status.verdict_at)} is older than the last evaluation"
    else:
        aggregation = f"aggregation: verdict written {_when(status.verdict_at)}: {verdict}"
    strays = [f"  {root}/{name}: {n} folder{'s' * (n > 1)}" for name, n in stray_groups(status.strays)]
    if status.set_aside:
        strays.append(f"  {root}/{STALE_DIR}/: {status.set_aside} files aggregation set aside")
    heading = ["not in the study (left as they are; delete them by hand if no longer wanted):"] if strays else []
    return [evaluation, aggregation, *_eta_lines(status), *heading, *_capped(strays, show_all)]


def status_lines(status: StudyStatus, show_all: bool = False) -> list[str]:
    """``srloss status``'s report: the counts, the runs of each state, evaluation, aggregation, the
    ETA and stray folders."""
    from srloss.report.status import STATES

    root = status.root
    counts = [f"{status.count('done')}/{len(status.runs)} runs done"]
    counts += [f"{n} {state}" for state in STATES[1:] if (n := status.count(state))]
    lines = [f"study {status.study} ({root}/), {_when(status.at)}", ", ".join(counts)]
    for state in ("training", "stalled", "failed", "outdated", "trained", "pending", "done"):
        if state == "failed":
            if status.failures:
                items = [f"  {f.what} ({f.stage}): {f.cause}\n    log: {f.log}" for f in status.failures]
                lines += [HEADINGS[state], *_capped(items, show_all)]
            continue
        runs = [r for r in status.runs if r.state == state]
        if runs and (state in SHOWN or show_all):
            lines.append(HEADINGS[state].format(stale=_duration(status.stale_after)))
            lines += _capped([f"  {_run_line(r, status.at)}" for r in runs], show_all)
    return lines + _output_lines(status, show_all)


# ----- the parser ---------------------------------------------------------------------------------


def _add_train(sub) -> None:
    t = sub.add_parser(
        "train",
        help="train one run (what the workflow's train rule calls)",
        description="Train one (dataset, model, loss, scale, seed) run from its JSON spec.",
    )
    t.set_defaults(func=cmd_train)
    t.add_argument("--spec", type=_json, required=True, help="the run's definition (JSON, Study.run_spec)")
    t.add_argument("--train-shard", required=True)
    t.add_argument("--val-shard", required=True)
    t.add_argument("--model", required=True, help="output: final state dict (.pt)")
    t.add_argument("--history", required=True, help="output: history, one row per logging window and validation (.csv)")
    t.add_argument("--record", required=True, help="output: run record with status and health (.json)")
    t.add_argument("--best", default=None, help="output: state dict with the best validation PSNR-Y (.pt)")
    t.add_argument("--done", default=None, help="output: written last, once every other output is complete")
    t.add_argument(
        "--checkpoint",
        default=None,
        help="resumable state: written every checkpoint_every steps and on SIGTERM/SIGUSR1, resumed from if present",
    )
    t.add_argument("--init-weights", default=None, help="generator state dict to start from (another run's model.pt)")
    t.add_argument(
        "--execution",
        type=_json,
        default=None,
        help="execution settings (JSON: threads, device, checkpoint_every, keep_checkpoint, log_every, "
        "tensorboard); missing keys take the schema defaults",
    )
    t.add_argument("--threads", type=int, default=None, help="CPU threads (overrides the execution settings)")
    t.add_argument("--attempt", type=int, default=1, help="Snakemake's attempt number: a user error is not tried again")


def _add_stage_parsers(sub) -> None:
    p = sub.add_parser("prepare", help="degrade a dataset's HR images and write train/val/test shards")
    p.set_defaults(func=cmd_prepare)
    p.add_argument("--spec", type=_json, required=True, help="the dataset's definition (JSON)")
    p.add_argument(
        "--locations",
        type=_json,
        default=None,
        help="where each dataset's files lie (JSON: {dataset: {root: ...}}; the workflow's $SRLOSS_DATASET_LOCATIONS), "
        "kept out of --spec so that moving a folder reruns nothing",
    )
    p.add_argument("--dataset", default=None, help="the dataset whose location --locations gives")
    p.add_argument("--scale", type=int, required=True)
    for split in ("train", "val", "test"):
        p.add_argument(
            f"--{split}", default=None, help=f"output shard for the {split} split (the splits given are prepared)"
        )
    _add_train(sub)
    e = sub.add_parser("evaluate", help="measure one run (or an untrained baseline) on a test shard")
    e.set_defaults(func=cmd_evaluate)
    e.add_argument("--spec", type=_json, required=True)
    e.add_argument("--checkpoint", default=None, help="trained state dict (omit for untrained baselines)")
    e.add_argument("--test-shard", required=True)
    e.add_argument("--metrics", required=True, help="output: per-image metrics (.csv)")
    e.add_argument("--record", required=True, help="output: evaluation record (.json)")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument(
        "--evaluation",
        type=_json,
        default=None,
        help="evaluation settings (JSON, Study.evaluation_spec); default: the schema's defaults, FFR off",
    )
    e.add_argument("--crops", default=None, help="output: fixed crops for comparison grids (.npz)")
    # execution only, so kept out of --evaluation (the job's identity): changing them reruns nothing
    e.add_argument("--device", default=None, help="overrides evaluation.device")
    e.add_argument("--batch-size", type=int, default=None, help="overrides evaluation.batch_size")
    e.add_argument("--tile", type=int, default=None, help="overrides evaluation.tile (LR tile side; 0 = whole images)")
    e.add_argument(
        "--max-batch-pixels", dest="max_pixels", type=int, default=None, help="overrides evaluation.max_batch_pixels"
    )
    _add_aggregate(sub)


def _add_aggregate(sub) -> None:
    a = sub.add_parser("aggregate", help="summary tables, statistics and figures from every run's per-image metrics")
    a.set_defaults(func=cmd_aggregate)
    a.add_argument(
        "--config", type=_json, required=True, help="the validated study config (JSON), recorded with the results"
    )
    a.add_argument("--metrics", nargs="+", required=True)
    for name in ("per-image", "summary-csv", "summary-md", "figure", "provenance"):
        a.add_argument(f"--{name}", required=True)
    a.add_argument(
        "--root", default=None, help="results/<study>: where the per-model tables, statistics and figures go"
    )
    a.add_argument("--description", default=None, help="workflow/report/workflow.rst: ends the report front page")
    a.add_argument(
        "--budget-ranking",
        default=None,
        help="tables/budget_ranking.csv (evaluation.steps): the verdict across budgets",
    )
    a.add_argument(
        "--val-metrics",
        nargs="+",
        default=[],
        help="<run>/val/metrics.csv of every grid point of a tuned loss (losses.<name>.tune): the selection",
    )


def _add_budget(sub) -> None:
    b = sub.add_parser("budget", help="budget curves: metrics against the training step (evaluation.steps)")
    b.set_defaults(func=cmd_budget)
    b.add_argument("--step-metrics", nargs="+", required=True, help="runs/.../steps/<N>/metrics.csv files")
    b.add_argument("--final-metrics", nargs="*", default=[], help="runs' main metrics.csv (their last step)")
    b.add_argument("--records", nargs="+", required=True, help="the trained runs' run.json")
    b.add_argument(
        "--baselines", nargs="*", default=[], help="the untrained baselines' metrics.csv (dashed lines in the figure)"
    )
    b.add_argument("--table", required=True, help="output: tidy budget table (.csv)")
    b.add_argument("--ranking", required=True, help="output: ranking of the losses per step (.csv)")
    b.add_argument("--alpha", type=float, help="significance level (evaluation.alpha; default: its default)")
    b.add_argument("--figures", nargs="+", required=True, help="output: the figure (.png, .pdf)")
    b.add_argument(
        "--tuned", type=_json, default={}, help="the tuned losses' grid points (JSON: point -> loss, values, select_by)"
    )
    b.add_argument(
        "--val-metrics", nargs="*", default=[], help="<run>/val/metrics.csv of every grid point (with --tuned)"
    )


def _crop(text: str) -> tuple[int, int, int, int]:
    from srloss.evaluation.compare import parse_crop

    try:
        return parse_crop(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _tile(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 0 (LR pixels; 0 = whole images)")
    return int(text)


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (a GPU if one is visible, else the CPU), cpu, cuda:N")
    parser.add_argument(
        "--tile",
        type=_tile,
        default=0,
        help="0: whole images; N > 0: LR tiles of N x N px with the model's receptive radius as overlap (less "
        "memory, same output as evaluation with evaluation.tile N)",
    )


def _add_model_use_parsers(sub) -> None:
    u = sub.add_parser(
        "upscale",
        help="super-resolve your own images with a trained run's model",
        description="Run a trained run's model on image files exactly as the evaluation stage runs it on test "
        "images, and write <stem>_x<scale>_<dataset>-<model>-<loss>-seed<seed>.png into --out "
        "(docs/using-models.md). A multi-frame model takes one folder of frames per sample.",
    )
    u.set_defaults(func=cmd_upscale)
    u.add_argument("run", help="the run's folder: results/<study>/runs/<dataset>/<model>/<loss>/x<scale>/seed<seed>")
    u.add_argument("images", nargs="+", help="image files (a multi-frame model: folders of frames)")
    u.add_argument("--out", required=True, help="output folder (created if missing)")
    _add_inference_options(u)
    c = sub.add_parser(
        "compare",
        help="a crop grid of one image across runs (+ bicubic, + the ground truth), as PNG",
        description="Super-resolve IMAGE with every run (and bicubic) and write the same window of each output "
        "side by side, labelled with the run's loss and, given --hr, its PSNR-Y (docs/using-models.md).",
    )
    c.set_defaults(func=cmd_compare)
    c.add_argument("image", help="the input image (a multi-frame run: a folder of frames)")
    c.add_argument("runs", nargs="+", help="run folders of one scale (results/<study>/runs/...)")
    c.add_argument("--out", required=True, help="output: the grid (.png)")
    c.add_argument(
        "--crop",
        type=_crop,
        default=None,
        help="x,y,w,h: the window in input pixels (default: the most detailed square, docs/using-models.md)",
    )
    c.add_argument("--hr", default=None, help="the ground truth (input size x scale): a panel, and PSNR-Y labels")
    _add_inference_options(c)


def _add_tool_parsers(sub) -> None:
    c = sub.add_parser(
        "check",
        help="validate a study config and print its grid, without Snakemake",
        description="Check CONFIG against the schema and srloss's own checks (names, options, scales) "
        "and print the runs, the jobs per stage and what will be downloaded.",
    )
    c.set_defaults(func=cmd_check)
    c.add_argument("config", help="the study config (YAML)")
    st = sub.add_parser(
        "status",
        help="how far a study is: runs done, training, failed, pending; an ETA (reads files only)",
        description="Read the study's files under results/<study>/ (run folders, heartbeats, job logs) and say "
        "how far it is. Run it where you run snakemake, with the same configs; it needs neither Snakemake nor its "
        "lock, so it works while the workflow runs and on a cluster's login node.",
    )
    st.set_defaults(func=cmd_status)
    st.add_argument(
        "configs", nargs="*", default=["config.yaml"], help="the study's config files (default: config.yaml)"
    )
    st.add_argument(
        "--config", nargs="+", default=None, metavar="KEY=VALUE", help="the overrides snakemake got, if any"
    )
    st.add_argument("--all", action="store_true", help="list every run of every state, every failure and stray folder")
    st.add_argument(
        "--stale-after",
        type=float,
        default=None,
        metavar="MINUTES",
        help="a heartbeat older than this (and than three logging windows) means the run stopped (default: 10)",
    )
    w = sub.add_parser("fetch-weights", help="download pretrained backbone weights into the torch hub cache")
    w.set_defaults(func=cmd_fetch_weights)
    w.add_argument("backbones", nargs="*", help="backbone names (vgg19, resnet18, resnet50, alexnet, vgg16)")
    w.add_argument("--config", default=None, help="also fetch what this study config's losses need (YAML)")
    w.add_argument("--torch-home", default=None, help="cache root (default: $TORCH_HOME, else torch's default)")
    w.add_argument("--base-url", default=None, help="download from this folder instead of download.pytorch.org")
    gen = sub.add_parser(
        "generate",
        help="rewrite the config schema and the docs' reference tables from the declarations",
        description="Write workflow/schemas/config.schema.yaml and every generated table in README.md and docs/ "
        "from the registries and settings declarations (srloss.generate).",
    )
    gen.set_defaults(func=cmd_generate)
    gen.add_argument("--check", action="store_true", help="write nothing; fail naming each file that differs")
    g = sub.add_parser(
        "gpu-run",
        help="run a command on a free GPU (sets CUDA_VISIBLE_DEVICES unless already set)",
        description="Lock a free GPU, set CUDA_VISIBLE_DEVICES and exec the command; see srloss.gpu.",
    )
    g.set_defaults(func=cmd_gpu_run)
    g.add_argument("cmd", nargs=argparse.REMAINDER, help="-- <command> [args...]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srloss",
        description="Compare loss functions for image super-resolution. The workflow (snakemake) calls "
        "prepare, train, evaluate and aggregate; run `srloss check CONFIG` to validate a study and see its grid first.",
    )
    parser.add_argument("--version", action="version", version=f"srloss {srloss.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_stage_parsers(sub)
    _add_budget(sub)
    _add_model_use_parsers(sub)
    _add_tool_parsers(sub)
    return parser


@one_line_errors  # a UserError (bad config, dataset, folder, device) is one line and exit code 3
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
