"""Budget curves: the metrics of each run's weights at the steps of ``evaluation.steps``.

Does the verdict depend on how long the networks trained? ``budget_table`` gives each run's
mean over test images of every metric at every saved step (plus the final step from the main
evaluation); ``budget_ranking`` orders the losses at each step by their mean over seeds and says,
per metric and (dataset, model, scale), whether the best loss or the order changes with the
budget, in the means and where the evidence says so: every pair of losses at every step is
compared by a paired t-test over seeds (each seed's run mean; the seed is the unit of
replication), Holm-adjusted over every pair, step, metric and view of the table (``order_tests``);
a change counts only when one loss is significantly ahead of another at one step and
significantly behind it at another. One outlier image cannot flag a change, one seed never does.
``plot_budget`` draws each metric against the step, one line per loss (the mean over seeds, a
band for their range; named with its runs' health, ``report.figures.health_labels``), with the
untrained baselines' mean over the same test images as a dashed horizontal line. The baselines
are in the figure only, not in budget.csv (they have no step; their values are in the
aggregate's tables/summary.csv).

Only rows measured on the run's own dataset's test split count (``test_set`` == ``dataset``,
where metrics.csv has a ``test_set`` column).

A step the run never reached (it diverged earlier; run.json's ``saved_steps`` says so) has no
row: its weights file holds the run's final weights, which are not the weights of that step.

A tuned loss (``losses.<name>.tune``) is followed through its selected grid point only, under the
loss's own name: the point the aggregate's tables show, selected on the validation split
(``report.selection``); the test split compares losses, it never picks a point.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from srloss.atomic import atomic_path  # noqa: E402
from srloss.evaluation.settings import EvaluationConfig  # noqa: E402
from srloss.metrics import find_column, shown_columns  # noqa: E402
from srloss.report import selection  # noqa: E402
from srloss.report.figures import (  # noqa: E402
    health_labels,
    loss_palette,
    message_figure,
    save_figure,
    use_study_losses,
)
from srloss.report.load import read_metrics_file  # noqa: E402
from srloss.report.stats import holm, paired_differences, score  # noqa: E402

log = logging.getLogger(__name__)

RUN = ["dataset", "model", "loss", "scale", "seed"]
VIEW = ["dataset", "model", "scale"]
COLUMNS = [*RUN, "step", "metric", "value"]


def run_means(per_image: pd.DataFrame, step: int) -> pd.DataFrame:
    """One run's per-image metrics -> tidy rows (run, step, metric, mean over images); only the
    own test split counts (rows whose ``test_set``, where given, is the training dataset)."""
    per_image = own_test_split(per_image)
    metrics = shown_columns(per_image.columns)
    means = per_image.groupby(RUN)[metrics].mean().reset_index()
    long = means.melt(id_vars=RUN, var_name="metric", value_name="value").dropna(subset=["value"])
    long["step"] = step
    return long[COLUMNS]


def own_test_split(per_image: pd.DataFrame) -> pd.DataFrame:
    """The rows measured on the run's own dataset's test split (all of them without ``test_set``)."""
    if "test_set" not in per_image:
        return per_image
    return per_image[per_image["test_set"].astype(str) == per_image["dataset"].astype(str)]


def read_metrics(path: str | Path) -> pd.DataFrame:
    """A metrics.csv's rows on the run's own test split; an error if there are none."""
    per_image = own_test_split(read_metrics_file(path))
    if per_image.empty:
        raise ValueError(f"{path}: no per-image rows on the run's own test split")
    return per_image


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
        per_image = read_metrics(p)
        run = tuple(per_image[RUN].iloc[0])
        if reached(run, step, records):
            frames.append(run_means(per_image, step))
        else:
            log.warning("%s: run %s stopped before step %d; left out", p, "/".join(map(str, run)), step)
    for p in final_metrics:
        per_image = read_metrics(p)
        run = tuple(per_image[RUN].iloc[0])
        if run not in records:
            raise ValueError(f"{p}: no run.json given for run {'/'.join(map(str, run))}")
        record = records[run]
        if str(record["steps_done"]) not in record.get("saved_steps", {}):
            frames.append(run_means(per_image, record["steps_done"]))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return table.sort_values(COLUMNS[:-1], kind="stable").reset_index(drop=True)


RANKING_COLUMNS = [
    "steps",
    "best",
    "ranking",
    "n_seeds",
    "p_holm",
    "significant_best",
    "best_changes",
    "ranking_changes",
    "best_changes_in_means",
    "ranking_changes_in_means",
]
ALPHA = EvaluationConfig().alpha  # evaluation.alpha's default


def curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of each (view, loss, step, metric) and the number of seeds behind it."""
    grouped = table.groupby([*VIEW, "loss", "step", "metric"])["value"]
    return grouped.agg(value="mean", n_seeds="count").reset_index()


def order_of_losses(at_step: pd.DataFrame, metric: str) -> list[str]:
    """Losses from best to worst at one step (ties keep the name order)."""
    scored = at_step.assign(score=score(at_step["value"], find_column(metric).direction))
    return list(scored.sort_values(["score", "loss"], ascending=[False, True], kind="stable")["loss"])


def order_tests(table: pd.DataFrame) -> pd.DataFrame:
    """Every pair of losses (a < b by name) at every step of each (view, metric) where every loss of
    the view has a value: n seeds both ran, the mean over those seeds of a's run mean minus b's
    (direction-adjusted: positive = a is better), the paired t-test p over the seeds and its Holm
    adjustment over every row of the table (one family: every order claim of the budget tables)."""
    frames = []
    for key, block in table.groupby([*VIEW, "metric"], sort=True):
        wide = block.pivot_table(index=["step", "seed"], columns="loss", values="value", aggfunc="mean")
        losses = np.array(sorted(wide.columns), dtype=object)
        a, b = np.triu_indices(len(losses), 1)
        for step, at in wide[list(losses)].groupby(level="step", sort=True):
            if at.isna().all().any() or not a.size:  # a loss without a value here: the step is not ranked
                continue
            scores = score(at.to_numpy(dtype=np.float64), find_column(key[-1]).direction)  # seeds x losses
            test = paired_differences(scores[:, a].T, scores[:, b].T)
            row = dict(zip([*VIEW, "metric"], key)) | {"step": int(step), "a": losses[a], "b": losses[b]}
            frames.append(pd.DataFrame(row | {k: test[k] for k in ("n", "mean_diff", "p_value")}))
    columns = [*VIEW, "metric", "step", "a", "b", "n", "mean_diff", "p_value", "p_holm"]
    if not frames:
        return pd.DataFrame(columns=columns)
    tests = pd.concat(frames, ignore_index=True)
    tests["p_holm"] = holm(tests["p_value"])
    return tests[columns]


def _ahead(tests: pd.DataFrame, alpha: float) -> dict[int, set[tuple[str, str]]]:
    """Per step, the (better, worse) pairs of one (view, metric) that the Holm-adjusted test confirms."""
    ahead: dict[int, set[tuple[str, str]]] = {}
    for r in tests[tests["p_holm"] < alpha].itertuples():
        ahead.setdefault(int(r.step), set()).add((r.a, r.b) if r.mean_diff > 0 else (r.b, r.a))
    return ahead


def _reverses(ahead: dict[int, set[tuple[str, str]]]) -> bool:
    """Whether some pair is significantly ordered one way at one step and the other way at another."""
    confirmed = set().union(*ahead.values()) if ahead else set()
    return any((b, a) in confirmed for a, b in confirmed)


def budget_ranking(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per (view, metric): the best loss and the order of the losses at each step (means over
    seeds; only steps where every loss of the view has a value count) and whether they change with
    the budget: ``best_changes_in_means`` / ``ranking_changes_in_means`` as the means say,
    ``best_changes`` / ``ranking_changes`` only where the evidence does (``order_tests``: a loss
    significantly ahead of another at one step and significantly behind it at another; for
    ``best_changes`` the two are each the best at their step). ``significant_best`` names, per step,
    the best loss where it is significantly ahead of the runner-up ("-" where not), ``p_holm`` that
    comparison's Holm-adjusted p, ``n_seeds`` the fewest seeds behind a comparison."""
    rows = []
    tests = order_tests(table)
    by_key = dict(iter(tests.groupby([*VIEW, "metric"], sort=False))) if len(tests) else {}
    for key, block in curves(table).groupby([*VIEW, "metric"], sort=True):
        losses = set(block["loss"])
        orders = {
            int(step): order_of_losses(at, key[-1])
            for step, at in block.groupby("step", sort=True)
            if set(at["loss"]) == losses
        }
        own = by_key.get(key, tests.iloc[:0])
        p_of = {(r.step, *sorted((r.a, r.b))): r.p_holm for r in own.itertuples()}
        ahead = _ahead(own, alpha)
        firsts = {s: o[0] for s, o in orders.items()}
        p_best = {s: p_of.get((s, *sorted(o[:2])), np.nan) if len(o) > 1 else np.nan for s, o in orders.items()}
        significant = {
            s: firsts[s] if (firsts[s], o[1]) in ahead.get(s, set()) else "-" for s, o in orders.items() if len(o) > 1
        }
        best_flips = any(
            (firsts[s1], firsts[s2]) in ahead.get(s1, set()) and (firsts[s2], firsts[s1]) in ahead.get(s2, set())
            for s1 in orders
            for s2 in orders
        )
        rankings = list(orders.values())
        rows.append(
            {
                **dict(zip([*VIEW, "metric"], key)),
                "steps": ";".join(map(str, orders)),
                "best": ";".join(f"{s}:{o[0]}" for s, o in orders.items()),
                "ranking": ";".join(f"{s}:{'>'.join(o)}" for s, o in orders.items()),
                "n_seeds": int(own["n"].min()) if len(own) else int(block["n_seeds"].min()),
                "p_holm": ";".join(f"{s}:{p:.3g}" if np.isfinite(p) else f"{s}:n/a" for s, p in p_best.items()),
                "significant_best": ";".join(f"{s}:{w}" for s, w in significant.items()),
                "best_changes": best_flips,
                "ranking_changes": _reverses(ahead),
                "best_changes_in_means": len({o[0] for o in rankings}) > 1,
                "ranking_changes_in_means": len({tuple(o) for o in rankings}) > 1,
            }
        )
    return pd.DataFrame(rows, columns=[*VIEW, "metric", *RANKING_COLUMNS])


def baseline_means(paths: list[str | Path]) -> pd.DataFrame:
    """The untrained baselines' metrics.csv -> mean over test images (and seeds) per (dataset,
    model, scale, metric): the level a trained loss has to beat, whatever its budget."""
    frames = [run_means(read_metrics(p), step=0) for p in paths]
    if not frames:
        return pd.DataFrame(columns=["dataset", "model", "scale", "metric", "value"])
    means = pd.concat(frames, ignore_index=True)
    return means.groupby(["dataset", "model", "scale", "metric"])["value"].mean().reset_index()


def run_health(records: dict[tuple, dict]) -> pd.DataFrame:
    """One row per trained run: its key columns and run.json's health ``status``."""
    return pd.DataFrame([{**dict(zip(RUN, run)), "status": r["status"]} for run, r in records.items() if "status" in r])


def _baseline_lines(grid: sns.FacetGrid, data: pd.DataFrame, baselines: pd.DataFrame, palette: dict) -> dict:
    """A dashed line per baseline at its mean in each panel of its dataset and scale; the legend's handles."""
    views = data.drop_duplicates("view").set_index("view")
    handles = {}
    for (metric, view), ax in grid.axes_dict.items():
        own = baselines[
            (baselines["dataset"] == views.loc[view, "dataset"])
            & (baselines["scale"] == views.loc[view, "scale"])
            & (baselines["metric"] == metric)
        ]
        for row in own.itertuples():
            label = f"{row.model} (baseline)"
            handles[label] = ax.axhline(row.value, color=palette[label], linestyle="--", linewidth=1.2, label=label)
    return handles


def plot_budget(
    table: pd.DataFrame,
    paths: list[str | Path],
    labels: dict[str, str] | None = None,
    baselines: pd.DataFrame | None = None,
) -> None:
    """Each metric (rows) against the step, one line per loss (the mean over seeds of the runs' means
    over images, a band for the seeds' range; in its ``loss_palette`` colour, named as ``labels``
    says: ``health_labels``), one column per (dataset, model, scale); ``baselines``
    (``baseline_means``) a dashed line per untrained baseline of the panel's dataset and scale. A log
    step axis where the budgets span a factor of 10 or more (1e3, 1e4, 1e5: evenly spaced)."""
    labels = labels or {}
    baselines = baselines if baselines is not None else baseline_means([])
    data = table.copy()
    data["view"] = data["dataset"] + " / " + data["model"] + " / x" + data["scale"].astype(str)
    names = [*data["loss"], *(baselines["model"] + " (baseline)")]
    palette = {labels.get(n, n): colour for n, colour in loss_palette(names).items()}
    data["loss"] = data["loss"].map(lambda n: labels.get(n, n))
    hue_order = [n for n in palette if n in set(data["loss"])]
    grid = sns.relplot(
        data=data,
        x="step",
        y="value",
        hue="loss",
        row="metric",
        col="view",
        kind="line",
        marker="o",
        errorbar=("pi", 100),  # the band spans the seeds (min to max); the line is their mean
        hue_order=hue_order,
        palette={n: palette[n] for n in hue_order},
        facet_kws={"sharey": "row", "sharex": False},
        height=2.6,
        aspect=1.4,
        legend=False,
    )
    if data["step"].min() > 0 and data["step"].max() >= 10 * data["step"].min():
        grid.set(xscale="log")
    grid.set_titles("{row_name} | {col_name}")
    grid.set_axis_labels("training step", "mean over images and seeds")
    grid.figure.suptitle(
        "Budget: lines are means over seeds, bands their range; tables/budget_ranking.csv says where the "
        "order of the losses changes significantly",
        y=1.02,
        size=9,
    )
    handles = [Line2D([], [], color=palette[n], marker="o", label=n) for n in hue_order]
    handles += list(_baseline_lines(grid, data, baselines, palette).values())
    grid.figure.legend(handles=handles, title="loss", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            grid.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")


def selected_only(table: pd.DataFrame, records: dict, val_metrics: list, points: dict) -> tuple[pd.DataFrame, dict]:
    """The budget table and run records of the untuned losses and of each cell's selected grid
    point of a tuned loss, under the loss's name (``points``: ``srloss.tuning.tuned_points``;
    ``val_metrics``: every point's validation metrics, as the aggregate selects from them)."""
    if not val_metrics:
        tuned = ", ".join(sorted({p["loss"] for p in points.values()}))
        raise ValueError(f"budget: losses {tuned} are tuned, but no validation metrics were given (--val-metrics)")
    chosen = selection.chosen_points(selection.select(selection.load_validation(val_metrics), points))
    cells = zip(table["dataset"], table["model"], table["scale"], table["loss"])
    table = table.assign(loss=[selection.shown_loss(*cell, chosen, points) for cell in cells])
    table = table.dropna(subset=["loss"]).reset_index(drop=True)
    kept = {}
    for (dataset, model, loss, scale, seed), record in records.items():
        if (name := selection.shown_loss(dataset, model, scale, loss, chosen, points)) is not None:
            kept[(dataset, model, name, scale, seed)] = record
    return table, kept


def write_budget(
    step_metrics: list,
    final_metrics: list,
    record_paths: list,
    out: dict[str, str | Path],
    baselines: list = (),
    alpha: float = ALPHA,
    val_metrics: list = (),
    tuned: dict | None = None,
) -> None:
    """``srloss budget``: budget.csv (``out["table"]``), budget_ranking.csv (significance at
    ``alpha``, evaluation.alpha) and the figures, with the untrained baselines' metrics.csv
    (``baselines``) as reference lines in the figure. With ``tuned`` grid points
    (``srloss.tuning.tuned_points``), only each cell's point selected on ``val_metrics`` counts."""
    records = load_records(record_paths)
    table = budget_table(step_metrics, final_metrics, records)
    if tuned:
        table, records = selected_only(table, records, list(val_metrics), tuned)
    use_study_losses(run[2] for run in records)  # each loss in its colour of the aggregate figures
    for key, frame in (("table", table), ("ranking", budget_ranking(table, alpha))):
        with atomic_path(Path(out[key])) as tmp:
            frame.to_csv(tmp, index=False)
    if table.empty:  # the tables keep their header; the figures say why they have no curve
        why = (
            "No budget curve: no run has a metric value at a step of evaluation.steps\n"
            "(every run stopped earlier, or its metrics were not measured: see the runs' eval.json)."
        )
        log.warning("budget: %s", why.replace("\n", " "))
        for path in out["figures"]:
            save_figure(message_figure(why), path)
        return
    plot_budget(table, out["figures"], health_labels(run_health(records)), baseline_means(list(baselines)))
