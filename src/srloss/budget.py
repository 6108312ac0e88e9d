"""Budget curves: the metrics of each run's weights at the steps of ``evaluation.steps``.

Does the verdict depend on how long the networks trained? ``budget_table`` gives each run's
mean over test images of every metric at every saved step (plus the final step from the main
evaluation); ``budget_ranking`` orders the losses at each step by their mean over seeds and
flags, per metric and (dataset, model, scale), whether the best loss or the order changes with
the budget; ``plot_budget`` draws each metric against the step, one line per loss.

A step the run never reached (it diverged earlier; run.json's ``saved_steps`` says so) has no
row: its weights file holds the run's final weights, which are not the weights of that step.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from srloss.atomic import atomic_path  # noqa: E402
from srloss.metrics import metric_info  # noqa: E402
from srloss.stats import score  # noqa: E402

log = logging.getLogger(__name__)

RUN = ["dataset", "model", "loss", "scale", "seed"]
VIEW = ["dataset", "model", "scale"]
COLUMNS = [*RUN, "step", "metric", "value"]


def run_means(per_image: pd.DataFrame, step: int) -> pd.DataFrame:
    """One run's per-image metrics -> tidy rows (run, step, metric, mean over images); only the
    own test split counts (rows whose ``test_set``, where given, is the training dataset)."""
    if "test_set" in per_image:
        per_image = per_image[per_image["test_set"] == per_image["dataset"]]
    metrics = [c for c in per_image.columns if metric_info(c)]
    means = per_image.groupby(RUN)[metrics].mean().reset_index()
    long = means.melt(id_vars=RUN, var_name="metric", value_name="value").dropna(subset=["value"])
    long["step"] = step
    return long[COLUMNS]


def load_records(paths: list[str | Path]) -> dict[tuple, dict]:
    """run.json of each trained run, keyed by (dataset, model, loss, scale, seed)."""
    records = {}
    for p in paths:
        record = json.loads(Path(p).read_text())
        records[tuple(record["spec"][k] for k in RUN)] = record
    return records


def reached(run: tuple, step: int, records: dict[tuple, dict]) -> bool:
    """Whether the weights saved for ``step`` are really that step's (not a diverged run's last)."""
    saved = records.get(run, {}).get("saved_steps", {})
    return saved.get(str(step), step) == step


def budget_table(step_metrics: list[str | Path], final_metrics: list[str | Path], records: dict) -> pd.DataFrame:
    """The tidy budget table: ``runs/.../steps/<N>/metrics.csv`` at step N, and each run's main
    metrics at its last step (``steps_done``) unless that step is one of the saved ones."""
    frames = []
    for p in step_metrics:
        step = int(Path(p).parent.name)
        per_image = pd.read_csv(p)
        run = tuple(per_image[RUN].iloc[0])
        if reached(run, step, records):
            frames.append(run_means(per_image, step))
        else:
            log.warning("%s: run %s stopped before step %d; left out", p, "/".join(map(str, run)), step)
    for p in final_metrics:
        per_image = pd.read_csv(p)
        run = tuple(per_image[RUN].iloc[0])
        if run not in records:
            raise ValueError(f"{p}: no run.json given for run {'/'.join(map(str, run))}")
        record = records[run]
        if str(record["steps_done"]) not in record.get("saved_steps", {}):
            frames.append(run_means(per_image, record["steps_done"]))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return table.sort_values(COLUMNS[:-1], kind="stable").reset_index(drop=True)


def curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of each (view, loss, step, metric) and the number of seeds behind it."""
    grouped = table.groupby([*VIEW, "loss", "step", "metric"])["value"]
    return grouped.agg(value="mean", n_seeds="count").reset_index()


def order_of_losses(at_step: pd.DataFrame, metric: str) -> list[str]:
    """Losses from best to worst at one step (ties keep the name order)."""
    scored = at_step.assign(score=score(at_step["value"], metric_info(metric)[1]))
    return list(scored.sort_values(["score", "loss"], ascending=[False, True], kind="stable")["loss"])


def budget_ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Per (view, metric): the best loss and the order of the losses at each step, and whether
    either changes with the budget (only steps where every loss of the view has a value count)."""
    rows = []
    means = curves(table)
    for key, block in means.groupby([*VIEW, "metric"], sort=True):
        losses = set(block["loss"])
        orders = {
            int(step): order_of_losses(at, key[-1])
            for step, at in block.groupby("step", sort=True)
            if set(at["loss"]) == losses
        }
        rankings = list(orders.values())
        rows.append(
            {
                **dict(zip([*VIEW, "metric"], key)),
                "steps": ";".join(map(str, orders)),
                "best": ";".join(f"{s}:{o[0]}" for s, o in orders.items()),
                "ranking": ";".join(f"{s}:{'>'.join(o)}" for s, o in orders.items()),
                "best_changes": len({o[0] for o in rankings}) > 1,
                "ranking_changes": len({tuple(o) for o in rankings}) > 1,
            }
        )
    return pd.DataFrame(rows)


def plot_budget(table: pd.DataFrame, paths: list[str | Path]) -> None:
    """Each metric (rows) against the step, one line per loss, one column per (dataset, model, scale)."""
    data = curves(table)
    data["view"] = data["dataset"] + " / " + data["model"] + " / x" + data["scale"].astype(str)
    grid = sns.relplot(
        data=data,
        x="step",
        y="value",
        hue="loss",
        row="metric",
        col="view",
        kind="line",
        marker="o",
        facet_kws={"sharey": "row", "sharex": False},
        height=2.6,
        aspect=1.4,
    )
    if data["step"].max() >= 100 * data["step"].min():  # budgets over orders of magnitude: 1e3, 1e4, 1e5
        grid.set(xscale="log")
    grid.set_titles("{row_name} | {col_name}")
    grid.set_axis_labels("training step", "mean over images and seeds")
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            grid.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")


def write_budget(step_metrics: list, final_metrics: list, record_paths: list, out: dict[str, str | Path]) -> None:
    """``srloss budget``: budget.csv (``out["table"]``), budget_ranking.csv and the figures."""
    table = budget_table(step_metrics, final_metrics, load_records(record_paths))
    if table.empty:
        raise ValueError("budget: no run reached any step of evaluation.steps; nothing to plot")
    for key, frame in (("table", table), ("ranking", budget_ranking(table))):
        with atomic_path(Path(out[key])) as tmp:
            frame.to_csv(tmp, index=False)
    plot_budget(table, out["figures"])
