"""Property: a study of any subset of the metric columns, with any number of losses, models,
scales, seeds and test sets, aggregates. Random studies (a seeded ``random.Random``) are written
as run folders, aggregated (and, for some, their budget curves drawn), and their outputs checked
against invariants. A failure prints its ``Case``: ``check_case(tmp_path, Case(...))`` replays it."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from report_runner import aggregate_into

from srloss.metrics import column_catalog, column_metric, columns_of, find_column, note_name
from srloss.report.budget import write_budget
from srloss.report.load import table_header
from srloss.report.paths import BUDGET_FILES, STUDY_TABLES, study_outputs, table_stem
from srloss.report.stats import min_wilcoxon_p

ALPHA = 0.05  # report_runner's evaluation.alpha
DATASET = "d"
COLUMNS = list(column_catalog())  # every registered column, hidden ones included
LONG = "vgg54+gan=0.005-relativistic_with-a-name-longer-than-any-figure-label_" + "x" * 20
AWKWARD = ("NA", "1.0", "007", "None", LONG)  # names a CSV reader may take for NaN or a number
LOSSES = ("l1", "charb", "vgg", *AWKWARD)
MODELS = ("espcn", "srcnn", "edsr")
TEST_SETS = ("set5", "b100")
UNHEALTHY = ("stalled", "diverged at step 3")
STEPS = (2, 4, 8)  # evaluation.steps to draw from; trained runs last 10 steps, diverged ones 3
CASES = 6  # random cases, beside one per single column


@dataclass(frozen=True)
class Case:
    """One random study; its ``repr`` is the code that rebuilds it."""

    number: int
    metrics: tuple[str, ...]
    missing: tuple[str, ...]  # keys of the ``missing`` notes: a column, or a metric missing as a whole
    models: tuple[str, ...]
    losses: tuple[str, ...]
    scales: tuple[int, ...]
    seeds: tuple[int, ...]
    images: tuple[int, ...]  # test images of the own test split, then of each other test set
    test_sets: tuple[str, ...]  # the other test sets (cross-dataset)
    statuses: tuple[str, ...]  # of each trained run, in ``trained_runs`` order
    steps: tuple[int, ...]  # evaluation.steps: () draws no budget
    numeric_images: bool  # images named "0801", ... (DIV2K) rather than "img0", ...


def trained_runs(case: Case) -> list[tuple[str, str, int, int]]:
    """(model, loss, scale, seed) of every trained run."""
    return [(m, lo, s, sd) for m in case.models for lo in case.losses for s in case.scales for sd in case.seeds]


# Size caps: the figures' cost grows with their panels (metrics x test sets x scales) and runs.
MAX_PANELS, MAX_RUNS = 16, 16


def draw_case(rng: random.Random, number: int, metrics: tuple[str, ...] | None = None) -> Case:
    """A random study within the size caps; ``metrics`` fixed when given."""
    metrics = metrics or tuple(c for c in COLUMNS if c in rng.sample(COLUMNS, rng.randint(1, len(COLUMNS))))
    missing = set()
    for column in rng.sample(metrics, rng.randint(0, min(2, len(metrics)))):
        metric = column_metric(column).name
        missing.add(metric if metric != column and rng.random() < 0.5 else column)
    while True:
        models = tuple(rng.sample(MODELS, rng.randint(1, 3)))
        losses = tuple(rng.sample(LOSSES, rng.randint(1, 4)))
        scales = tuple(sorted(rng.sample((2, 3, 4), rng.randint(1, 3))))
        seeds = tuple(range(rng.randint(1, 3)))
        test_sets = tuple(rng.sample(TEST_SETS, rng.randint(0, 2)))
        runs = len(models) * len(losses) * len(scales) * len(seeds)
        if runs <= MAX_RUNS and len(metrics) * (1 + len(test_sets)) * len(scales) <= MAX_PANELS:
            break
    statuses = tuple(rng.choice(UNHEALTHY) if rng.random() < 0.25 else "completed" for _ in range(runs))
    steps = tuple(sorted(rng.sample(STEPS, rng.randint(1, 3)))) if rng.random() < 0.4 else ()
    images = tuple(rng.randint(3, 8) for _ in range(1 + len(test_sets)))
    return Case(
        number,
        metrics,
        tuple(sorted(missing)),
        models,
        losses,
        scales,
        seeds,
        images,
        test_sets,
        statuses,
        steps,
        rng.random() < 0.5,
    )


# --- writing the run folders ---------------------------------------------------------------------


def image_names(case: Case, count: int) -> list[str]:
    return [f"{801 + i:04d}" if case.numeric_images else f"img{i}" for i in range(count)]


def _value(column: str, quality: float, noise: float) -> float:
    """A value the column can take: better with ``quality`` (in its direction), within its bounds."""
    info = find_column(column)
    if info.counted or info.hidden:  # 1/0 outcomes
        return float(noise > (0.0 if info.hidden else 0.5 + quality / 4))
    raw = quality + noise / 2
    raw = -raw if info.direction == "min" else raw
    low, high = info.bounds
    if math.isfinite(low) and math.isfinite(high):
        return low + (high - low) / (1 + math.exp(-raw))
    if math.isfinite(low):
        return low + math.exp(raw)
    return raw / 4 if info.direction == "zero" else 30 + raw


def _absent(case: Case, rng: np.random.Generator) -> dict[str, list[str]]:
    """The missing notes of one metrics file -> the columns they make NaN: the first key everywhere,
    the others in some files only (a machine without the weights)."""
    keys = [k for i, k in enumerate(case.missing) if i == 0 or rng.random() < 0.5]
    return {k: [c for c in case.metrics if c in columns_of(k)] for k in keys}


def metrics_rows(case: Case, run: tuple, test_set: int, rng: np.random.Generator) -> pd.DataFrame:
    """The per-image rows of one run (model, loss, scale, seed, status) on one test set (0: its own)."""
    model, loss, scale, seed, status = run
    names = image_names(case, case.images[test_set])
    absent = _absent(case, rng)
    quality = 0.0 if loss == "none" else (LOSSES.index(loss) % 4 - 1.5) / 2 + 0.1 * test_set
    rows = []
    for i, image in enumerate(names):
        face = float(np.random.default_rng(1000 * test_set + i).random() < 0.8)  # the ground truth's, not the run's
        values = {c: _value(c, quality, float(rng.normal())) for c in case.metrics}
        if "gt_face" in values:
            values["gt_face"] = face
            values.update(
                {c: math.nan for c in values if column_metric(c).name == "ffr" and c != "gt_face" and not face}
            )
        values.update({c: math.nan for columns in absent.values() for c in columns})
        ids = {"study": "s", "dataset": DATASET, "test_set": ([DATASET, *case.test_sets])[test_set], "model": model}
        ids |= {"loss": loss, "scale": scale, "seed": seed, "image": image, "status": status}
        note = json.dumps({k: f"{k}: weights not cached at /nowhere/{k}.pth" for k in absent}) if absent else ""
        rows.append({**ids, **values, "missing": note})
    return pd.DataFrame(rows)


def _crops(folder: Path, names: list[str]) -> None:
    crops = {}
    for image in names[:2]:
        crops |= {f"sr__{image}": np.full((3, 8, 8), 90, np.uint8), f"hr__{image}": np.full((3, 8, 8), 200, np.uint8)}
        crops[f"box__{image}"] = np.array([0, 0, 8])
    np.savez(folder / "crops.npz", **crops)


def write_run(case: Case, root: Path, run: tuple, rng: np.random.Generator) -> dict[str, list[Path]]:
    """One run folder: metrics.csv and crops.npz per test set, and for a trained run history.csv,
    run.json and the metrics of each budget step; the paths by kind."""
    model, loss, scale, seed, status = run
    folder = root / f"runs/{DATASET}/{model}/{loss}/x{scale}/seed{seed}"
    files = {"metrics": [], "steps": [], "records": []}
    for t, name in enumerate([DATASET, *case.test_sets]):
        where = folder if t == 0 else folder / "on" / name
        where.mkdir(parents=True)
        metrics_rows(case, run, t, rng).to_csv(where / "metrics.csv", index=False)
        _crops(where, image_names(case, case.images[t]))
        files["metrics"].append(where / "metrics.csv")
    if loss == "none":
        return files
    done = 3 if status.startswith("diverged") else 10
    saved = {str(s): min(s, done) for s in case.steps}
    spec = {"dataset": DATASET, "model": model, "loss": loss, "scale": scale, "seed": seed, "terms": [{"name": "l1"}]}
    record = {"spec": spec, "status": status, "steps_done": done, "saved_steps": saved}
    (folder / "run.json").write_text(json.dumps(record))
    files["records"].append(folder / "run.json")
    steps = np.arange(0, done + 1)
    history = {"step": steps, "loss": 1 / (steps + 1), "l1": 1 / (steps + 1)}
    history["val_psnr_y"] = [30 + s / 10 if s % 5 == 0 else math.nan for s in steps]
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
    for step in case.steps:
        (folder / f"steps/{step}").mkdir(parents=True)
        path = folder / f"steps/{step}/metrics.csv"
        metrics_rows(case, run, 0, rng).to_csv(path, index=False)
        files["steps"].append(path)
    return files


def write_study(case: Case, root: Path) -> dict[str, list[Path]]:
    """Every run folder of the study (the bicubic baseline at each scale); the paths by kind
    (``baselines``: the baselines' own metrics.csv)."""
    rng = np.random.default_rng(case.number)
    runs = [(m, lo, s, sd, st) for (m, lo, s, sd), st in zip(trained_runs(case), case.statuses)]
    files = {"metrics": [], "steps": [], "records": [], "baselines": [], "finals": []}
    for scale in case.scales:
        baseline = write_run(case, root, ("bicubic", "none", scale, 0, "baseline"), rng)
        files["metrics"] += baseline["metrics"]
        files["baselines"].append(baseline["metrics"][0])
    for run in runs:
        written = write_run(case, root, run, rng)
        for kind, paths in written.items():
            files[kind] += paths
        files["finals"].append(written["metrics"][0])
    return files


# --- the invariants ------------------------------------------------------------------------------

NAMES = {c: str for c in ("study", "dataset", "test_set", "model", "loss", "image", "status", "best", "runner_up")}


def read(path: Path) -> pd.DataFrame:
    """A CSV output with its name columns as written (a loss named "NA" or "1.0" stays so)."""
    return pd.read_csv(path, dtype=NAMES, keep_default_na=False, na_values=[""])


def check_outputs(case: Case, root: Path) -> None:
    """Every file the workflow declares exists and is not empty; every table has its header, with
    nothing in it too (the statistics tables one ``metric`` column each)."""
    views = [(DATASET, m, s) for m in case.models for s in case.scales]
    for name in sorted(study_outputs(views, budget=bool(case.steps))):
        path = root / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing or empty"
        if path.suffix == ".csv":
            header = pd.read_csv(path, nrows=0).columns
            assert name not in STUDY_TABLES or "metric" in header, f"{name}: no metric column in {list(header)}"


def check_names_only_the_subset(case: Case, root: Path) -> None:
    """No table names a metric column outside the subset (the missing notes' keys aside)."""
    allowed = set(case.metrics) | set(case.missing)
    own_headers = [find_column(c).header for c in case.metrics] + [note_name(k) for k in case.missing]
    others = [c for c in COLUMNS if c not in allowed]
    for path in sorted((root / "tables").rglob("*")):
        if path.suffix not in (".csv", ".md", ".html", ".tex"):
            continue
        text = path.read_text()
        for header in sorted(own_headers, key=len, reverse=True):  # a header may begin another's
            text = text.replace(header, "")
        for column in others:
            assert not re.search(rf"\b{column}\b", text), f"{path.relative_to(root)} names {column}"
            assert find_column(column).header not in text, f"{path.relative_to(root)} names {column}'s header"


def md_rows(path: Path) -> dict[str, dict[str, str]]:
    """A Markdown results table as {loss: {header: cell}}."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return {row[0]: dict(zip(split[0], row)) for row in split[1:]}


def check_health_and_evidence(case: Case, root: Path) -> None:
    """Only completed runs are bold or best; a † marks best.csv's significant best; no best is named
    where the images are too few for the test to reach alpha."""
    per_image = read(root / "tables/per_image.csv")
    completed = per_image[per_image["status"] == "completed"]
    healthy = set(zip(completed["test_set"], completed["model"], completed["scale"], completed["loss"]))
    best = read(root / "tables/best.csv")
    for row in best.itertuples():
        if not pd.isna(row.n) and min_wilcoxon_p(int(row.n)) >= ALPHA:
            assert pd.isna(row.best) and not row.can_reach_alpha, f"a best named with n = {row.n}: {row}"
        for loss in (row.best, row.runner_up):
            assert pd.isna(loss) or (row.test_set, row.model, row.scale, loss) in healthy, f"unhealthy ranked: {row}"
    significant = best[best["significant"].astype(bool)]
    for model in case.models:
        for scale in case.scales:
            named = {
                (f"{r.test_set}: " if case.test_sets else "") + table_header(r.metric): r.best
                for r in significant[(significant["model"] == model) & (significant["scale"] == scale)].itertuples()
            }
            for loss, cells in md_rows(root / f"{table_stem(DATASET, model, scale)}.md").items():
                bold = [h for h, cell in cells.items() if "**" in cell]
                assert not bold or cells["Status"] == "completed", f"{loss} ({cells['Status']}) bold in {bold}"
                for header, cell in cells.items():
                    assert "†" not in cell or named.get(header) == loss, f"† on {loss}, {header}; best.csv: {named}"


def check_summary_recomputes(case: Case, root: Path, rng: random.Random) -> None:
    """A sampled summary cell is the mean over images of each image's mean over seeds."""
    summary, per_image = read(root / "tables/summary.csv"), read(root / "tables/per_image.csv")
    assert set(summary["loss"]) == {"none", *case.losses}, f"losses renamed: {sorted(set(summary['loss']))}"
    shown = [c for c in case.metrics if c in summary]
    if not shown:
        return
    row, metric = summary.iloc[rng.randrange(len(summary))], rng.choice(shown)
    keys = ["dataset", "test_set", "model", "loss", "scale"]
    block = per_image[(per_image[keys] == row[keys]).all(axis=1)]
    expected = block.groupby("image")[metric].mean().mean()
    assert np.isclose(row[metric], expected, equal_nan=True), (
        f"{metric} of {row[keys].to_dict()}: {row[metric]} vs {expected}"
    )


def run_case(root: Path, case: Case) -> None:
    """Write the study, aggregate it, draw its budget curves (``case.steps``), check every invariant."""
    files = write_study(case, root)
    aggregate_into(root, files["metrics"])
    if case.steps:
        out = {"table": root / BUDGET_FILES[0], "ranking": root / BUDGET_FILES[1], "figures": BUDGET_FILES[2:]}
        out["figures"] = [root / name for name in out["figures"]]
        write_budget(files["steps"], files["finals"], files["records"], out, files["baselines"])
    check_outputs(case, root)
    check_names_only_the_subset(case, root)
    check_health_and_evidence(case, root)
    check_summary_recomputes(case, root, random.Random(case.number))


def check_case(root: Path, case: Case) -> None:
    """``run_case``, any failure reported with the case that replays it."""
    try:
        run_case(root, case)
    except Exception as e:
        raise AssertionError(f"{case!r}\n{type(e).__name__}: {e}") from e


@pytest.fixture
def quick_figures(monkeypatch):
    """Figures built and drawn once, but neither laid out nor encoded (the costly part: test_report.py
    writes real PNG and PDF files); each file gets a placeholder."""

    def draw(figure: Figure, path, *args, **kwargs) -> None:
        figure.canvas.draw()
        Path(path).write_bytes(b"drawn")

    monkeypatch.setattr(Figure, "savefig", draw)
    monkeypatch.setattr(Figure, "tight_layout", lambda figure, *args, **kwargs: None)


@pytest.mark.parametrize("column", COLUMNS)
def test_a_study_of_any_one_column_aggregates(tmp_path, quick_figures, column):
    check_case(tmp_path, draw_case(random.Random(column), COLUMNS.index(column), (column,)))


@pytest.mark.parametrize("number", range(len(COLUMNS), len(COLUMNS) + CASES))
def test_a_random_study_aggregates(tmp_path, quick_figures, number):
    check_case(tmp_path, draw_case(random.Random(number), number))
