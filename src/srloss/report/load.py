"""Loading a study's per-image metrics and histories, and summarising them (no plotting).

The constants here name the grouping columns, the baseline and the one run-health status that
may be ranked; the other report modules import them from here. What each metric column is (header,
direction, format, bounds, ...) is declared by its metric (``srloss.metrics.METRICS``).

Cross-dataset evaluation: ``dataset`` is the dataset a model was trained on, ``test_set`` the
dataset whose test split was measured. A run folder (run.json, history.csv) holds its own test
split's ``metrics.csv`` (test_set = dataset) and another test set's at ``on/<test_set>/metrics.csv``,
each with ``crops.npz`` beside it. Every statistic is computed per test set, never pooled.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from srloss.metrics import find_column, hidden_columns, shown_columns
from srloss.report.stats import describe
from srloss.weights import loss_display_name

GROUP = ["dataset", "test_set", "model", "loss", "scale"]


VIEW = ["dataset", "test_set", "model", "scale"]


BASELINE_LOSS = "none"


# Only runs of this health status (srloss.health) may be bolded or named best.
HEALTHY = "completed"


ARROW = {"max": "↑", "min": "↓", "zero": "→0"}


# history.csv's validation quantity (srloss.training.run_files): plotted as it is, never smoothed.
VALIDATION = "val_psnr_y"


def metric_header(metric: str) -> str:
    """A metric column's header (stating its convention) with its arrow: "... ↑"."""
    column = find_column(metric)
    return f"{column.header} {ARROW[column.direction]}"


def table_header(metric: str) -> str:
    """A metric's short header in the results tables, with its arrow: "PSNR Y ↑"; the table's
    caption spells out each one's convention (``column_legend``)."""
    column = find_column(metric)
    return f"{column.short} {ARROW[column.direction]}"


def column_legend(metrics: list[str]) -> str:
    """The conventions behind the tables' short headers: "PSNR Y: PSNR Y (dB, BT.601, border=scale); ..."."""
    return "; ".join(f"{find_column(m).short}: {find_column(m).header}" for m in metrics)


def run_label(run_dir: Path, loss: str) -> str:
    """The loss as every output names it: marked "[random backbone]" when the run's loss used a
    randomly initialised feature network (not the published loss; ``weights.loss_display_name``)."""
    record = run_dir / "run.json"
    if loss == BASELINE_LOSS or not record.exists():
        return loss
    return loss_display_name(loss, json.loads(record.read_text())["spec"].get("terms", []))


def run_folder(metrics_path: str | Path) -> Path:
    """The run folder (run.json, history.csv) of a metrics file: its folder for the own test split,
    three levels up for another test set's ``<run>/on/<test_set>/metrics.csv``."""
    path = Path(metrics_path)
    return path.parents[2] if path.parent.parent.name == "on" else path.parent


# The columns that name things: read as written, never as NaN or a number (a loss named "NA" or
# "1.0", an image "0801").
NAME_COLUMNS = ("study", "dataset", "test_set", "model", "loss", "image", "status", "missing")


def read_metrics_file(path: str | Path) -> pd.DataFrame:
    """A metrics.csv: its name columns (``NAME_COLUMNS``) as text as written, the others as numbers
    (an empty cell NaN)."""
    frame = pd.read_csv(path)
    names = [c for c in NAME_COLUMNS if c in frame]
    if names:
        frame[names] = pd.read_csv(path, usecols=names, dtype=str, keep_default_na=False)[names]
    return frame


def load_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-run metric CSVs into one long table, losses labelled as ``run_label`` says.

    ``run_dir`` is the run folder (``run_folder``), ``eval_dir`` the folder of the metrics file
    (crops.npz); files without ``test_set`` (older ones) measured the own test split."""
    if not paths:
        raise ValueError("aggregate: no metrics files given")
    frames = []
    for p in paths:
        frame = read_metrics_file(p)
        frame["run_dir"], frame["eval_dir"] = str(run_folder(p)), str(Path(p).parent)
        if "test_set" not in frame and "dataset" in frame:
            frame["test_set"] = frame["dataset"]
        if len(frame):
            frame["loss"] = run_label(run_folder(p), str(frame["loss"].iloc[0]))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if "missing" in table:
        table["missing"] = table["missing"].map(lambda v: "" if pd.isna(v) else str(v))
    if "test_set" in table and "dataset" in table:  # test_set right after dataset
        columns = [c for c in table.columns if c != "test_set"]
        columns.insert(columns.index("dataset") + 1, "test_set")
        table = table[columns]
    return table


def test_set_order(view: pd.DataFrame, dataset: str) -> list[str]:
    """The test sets of a view in table order: the own test split first, then the others by name."""
    return sorted(set(map(str, view["test_set"])), key=lambda t: (t != dataset, t))


def metric_columns(per_image: pd.DataFrame) -> list[str]:
    """Metric columns present that tables and figures show, in display order (``srloss.metrics``)."""
    return shown_columns(per_image.columns)


def directions(columns: list[str]) -> dict[str, str]:
    return {c: find_column(c).direction for c in columns}


# Summary columns n_images_without_<column>: the images a hidden 1/0 column excludes (Column.excludes).
EXCLUDED = "n_images_without_"


def excluded_count(column: str) -> str:
    """The summary column counting the images a hidden 1/0 column excludes (``Column.excludes``)."""
    return EXCLUDED + column


def excluded_column(count: str) -> str:
    """The hidden column a summary column ``excluded_count`` counts for ("" for other columns)."""
    return count.removeprefix(EXCLUDED) if count.startswith(EXCLUDED) else ""


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% CI half-width of every metric per (dataset, model, loss, scale), over test
    images (each averaged over seeds); plus counts, the images a hidden column excludes and the runs' status."""
    metrics = metric_columns(per_image)
    counted = {m for m in metrics if find_column(m).counted}  # looked up once, not per group
    excluding = [h for h in hidden_columns(per_image.columns) if find_column(h).excludes]
    rows = []
    for key, block in per_image.groupby(GROUP, sort=True):
        row = dict(zip(GROUP, key))
        for m in metrics:
            d = describe(block.groupby("image")[m].mean())
            row[m] = d["mean"]
            row[f"{m}_ci95"] = (d["ci_high"] - d["mean"]) if d["n"] > 1 else math.nan
            if m in counted:  # over every (image, seed) the rate is defined for
                row[f"{m}_count"] = int(block[m].sum(skipna=True))
                row[f"{m}_of"] = int(block[m].notna().sum())
        row["n_images"] = block["image"].nunique()
        row["n_seeds"] = block["seed"].nunique()
        row["status"] = ", ".join(sorted(set(map(str, block["status"]))))
        for hidden in excluding:
            row[excluded_count(hidden)] = int((block.groupby("image")[hidden].max() == 0).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def long_rows(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, image, metric) of ``rows``, a part of ``table``: the long format for one's own
    analysis (tables/per_image_long.csv). The columns are ``table``'s, so the parts of a table,
    written one after another, make one CSV."""
    ids = [c for c in ["study", *GROUP, "seed", "image", "status"] if c in table]
    long = rows.melt(id_vars=ids, value_vars=metric_columns(table), var_name="metric", value_name="value")
    return long.dropna(subset=["value"]).reset_index(drop=True)


def missing_reasons(per_image: pd.DataFrame) -> dict[str, str]:
    """metric -> reason it is missing, from the per-image ``missing`` column (JSON objects), with
    its paths made portable (``portable_paths``): the tables are for publishing."""
    reasons = {}
    for note in per_image.get("missing", pd.Series(dtype=str)).dropna().unique():
        if str(note).strip():
            reasons.update({k: portable_paths(v) for k, v in json.loads(note).items()})
    return reasons


ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/[^\s`'\"(),;]+")


def portable_paths(text: str, cwd: str | Path | None = None) -> str:
    """``text`` with each absolute path made relative to ``cwd`` (the workflow's folder) when under
    it, else cut to ``.../<file name>``: no machine's folders in a published table. The reason in
    full stays in each run's eval.json."""
    root = str(Path(cwd or Path.cwd()).resolve())

    def short(match: re.Match) -> str:
        path = match.group(0)
        if path == root or path.startswith(root + "/"):
            return os.path.relpath(path, root)
        return f".../{Path(path).name}"

    return ABSOLUTE_PATH.sub(short, text)


def view_rows(per_image: pd.DataFrame, dataset: str, model: str, scale: int) -> pd.DataFrame:
    """Rows of one results table: the model's losses plus untrained baselines (labelled so)."""
    block = per_image[(per_image["dataset"] == dataset) & (per_image["scale"] == scale)]
    block = block[(block["model"] == model) | (block["loss"] == BASELINE_LOSS)].copy()
    base = block["loss"] == BASELINE_LOSS
    block.loc[base, "loss"] = block.loc[base, "model"] + " (baseline)"
    return block


def healthy(per_image: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that may be ranked: completed, not diverged, runaway, stalled or untrained
    (``srloss.health``). Baselines are never ranked among the trained losses."""
    return per_image[per_image["status"].astype(str) == HEALTHY]


# A run's history keeps at most this many points per quantity (evenly spaced, the last included):
# a figure column is a few inches wide, and a run of 10^6 steps logs 20,000 rows.
HISTORY_POINTS = 400


def load_histories(per_image: pd.DataFrame) -> pd.DataFrame:
    """Every trained run's history.csv, long: (run columns, step, quantity, value); a run measured
    on several test sets is read once (``run_dir`` is the run folder for each of them). Each
    quantity is smoothed (``smoothed_history``) and thinned to ``HISTORY_POINTS`` as its file is
    read, so the table's size does not grow with the runs' length."""
    frames = []
    runs = per_image[per_image["loss"] != BASELINE_LOSS][
        ["run_dir", "dataset", "model", "loss", "scale", "seed"]
    ].drop_duplicates()
    for run in runs.to_dict("records"):
        path = Path(run["run_dir"]) / "history.csv"
        if path.exists():
            ids = {k: run[k] for k in ["dataset", "model", "loss", "scale", "seed"]}
            frames += [frame.assign(**ids) for frame in smoothed_history(pd.read_csv(path))]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def smoothed_history(hist: pd.DataFrame) -> list[pd.DataFrame]:
    """One history.csv -> per quantity a (step, value, quantity) frame: a moving average over 2% of
    the rows (the validation quantity as it is), NaNs dropped, at most ``HISTORY_POINTS`` rows."""
    window = max(1, len(hist) // 50)
    frames = []
    for q in (c for c in hist.columns if c != "step"):
        values = pd.to_numeric(hist[q], errors="coerce")
        if q != VALIDATION:
            values = values.rolling(window, min_periods=1).mean()  # smooth per-step noise
        frame = pd.DataFrame({"step": hist["step"], "value": values, "quantity": q}).dropna(subset=["value"])
        if len(frame) > HISTORY_POINTS:
            frame = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, HISTORY_POINTS).round().astype(int))]
        frames.append(frame)
    return frames


def trained_views(per_image: pd.DataFrame) -> list[tuple[str, str, int]]:
    trained = per_image[per_image["loss"] != BASELINE_LOSS]
    return sorted(set(zip(trained["dataset"], trained["model"], trained["scale"].astype(int))))
