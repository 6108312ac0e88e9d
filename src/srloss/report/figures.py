"""The study's figures (PNG, and PDF unless ``evaluation.figures.pdf`` is false; one seaborn
style): metric point plots with CIs faceted by scale, the perception-distortion plane, training
curves, visual comparison grids.

A figure's size does not grow with the study: a panel shows at most ``evaluation.figures.losses``
trained losses (``FigureSettings``), the best by the panel's own metric, beside every baseline,
and the figure says so when some are left out (every loss is in the tables). The panels are drawn
with matplotlib from per-loss means computed once (seaborn's per-group estimators cost seconds
per panel at 60 losses).

Which metric goes where is declared by the metrics (``srloss.metrics.Column``): the overview
figure shows the ``overview`` columns, the plane's axes are the first ``distortion`` and
``perception`` columns measured (display order), the grid's crops are labelled with the first
distortion column; a study without them still gets every figure, with what it has.

A model measured on several test sets gets one facet row per (test set, metric), labelled
``<test set>: <metric>`` (own test split first); the perception-distortion plane has one row of
panels per test set, and the comparison grid shows the own test split only.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.ticker
from matplotlib.lines import Line2D

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from srloss.atomic import atomic_path  # noqa: E402
from srloss.evaluation.settings import FigureSettings  # noqa: E402
from srloss.metrics import find_column, role_titles, shown_columns, with_role  # noqa: E402
from srloss.report.load import (  # noqa: E402
    ARROW,
    BASELINE_LOSS,
    GROUP,
    HEALTHY,
    VALIDATION,
    metric_header,
    test_set_order,
)
from srloss.report.stats import score, t_half_width  # noqa: E402

DEFAULTS = FigureSettings()  # evaluation.figures' defaults, for callers without a config


def _style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")


# The trained losses of the whole study (``use_study_losses``): a loss keeps its colour in every
# figure, also in one where some losses have no value.
_STUDY_LOSSES: list[str] = []


def use_study_losses(losses) -> None:
    """Fix the colours of the figures drawn next: the study's trained losses, in name order, get
    the colour-blind palette's colours (``husl`` beyond its 10)."""
    _STUDY_LOSSES[:] = sorted({str(n) for n in losses if not _is_baseline(str(n))})


def _is_baseline(name: str) -> bool:
    return name.endswith("(baseline)") or name == BASELINE_LOSS


def loss_palette(losses) -> dict[str, tuple]:
    """One colour per loss name, the same in every figure of the study: baselines grey (listed
    first), the trained losses by their place among the study's (``use_study_losses``)."""
    names = {str(n) for n in losses}
    baselines = sorted(n for n in names if _is_baseline(n))
    trained = sorted(names - set(baselines))
    universe = sorted(set(_STUDY_LOSSES) | set(trained))
    palette = "colorblind" if len(universe) <= 10 else "husl"
    colours_of = dict(zip(universe, sns.color_palette(palette, max(len(universe), 1))))
    greys = [(0.45, 0.45, 0.45), (0.65, 0.65, 0.65), (0.3, 0.3, 0.3)]
    colours = {n: greys[i % len(greys)] for i, n in enumerate(baselines)}
    colours.update((n, colours_of[n]) for n in trained)
    return colours


# A figure names at most this many distinct unhealthy statuses of one loss (then "+N more").
SHOWN_STATUSES = 3


def health_labels(frame: pd.DataFrame) -> dict[str, str]:
    """Each loss of ``frame`` -> the name every figure's legend and axis give it, so that a loss whose
    runs are not all ``completed`` (``srloss.health``) is never shown as if it were healthy.

    A run is one (dataset, model, scale, seed) of the frame, its health the ``status`` column. The
    label is the loss itself when every run is completed (or a baseline), else the loss with the
    distinct unhealthy statuses in brackets, joined by "; ", plus how many runs completed when some
    did ("seeds" when the loss's runs differ only in seed):
    ``l1 [stalled]``, ``l1 [diverged at step 12; stalled]``, ``l1 [stalled; 1 of 2 seeds completed]``.
    """
    if frame.empty or "status" not in frame or "loss" not in frame:
        return {}
    keys = [c for c in ("dataset", "model", "scale", "seed") if c in frame]
    runs = frame.drop_duplicates(["loss", *keys])
    labels = {}
    for loss, block in runs.groupby("loss", sort=True):
        statuses = block["status"].astype(str)
        unhealthy = sorted(set(statuses) - {HEALTHY, "baseline"})
        if not unhealthy:
            labels[loss] = loss
            continue
        notes = unhealthy[:SHOWN_STATUSES]
        if len(unhealthy) > SHOWN_STATUSES:
            notes.append(f"+{len(unhealthy) - SHOWN_STATUSES} more")
        completed = int((statuses == HEALTHY).sum())
        if completed:
            same_setting = len(block.drop_duplicates([k for k in keys if k != "seed"])) == 1
            notes.append(f"{completed} of {len(block)} {'seeds' if same_setting else 'runs'} completed")
        labels[loss] = f"{loss} [{'; '.join(notes)}]"
    return labels


def _slant(ax: plt.Axes) -> None:
    """Loss names on x slanted, each ending at its tick (long health-marked names do not overlap)."""
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")


def _save(fig: plt.Figure, root: Path, stem: str, pdf: bool = DEFAULTS.pdf) -> None:
    """Write ``stem``.png (and ``stem``.pdf with ``pdf``) atomically, then close the figure."""
    for ext in ("png", "pdf") if pdf else ("png",):
        with atomic_path(root / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=130, bbox_inches="tight")
    plt.close(fig)


def is_baseline(loss: str) -> bool:
    """An untrained baseline's name: ``none`` as written, "<model> (baseline)" as the views name it."""
    return loss == BASELINE_LOSS or loss.endswith("(baseline)")


def best_losses_shown(scores: pd.Series, limit: int) -> list[str]:
    """The losses of a panel that it shows: every baseline and the ``limit`` trained losses of
    highest score (``scores``: loss -> larger is better; NaN last, ties by name)."""
    trained = [n for n in scores.index if not is_baseline(n)]
    ranked = sorted(trained, key=lambda n: (not np.isfinite(scores[n]), -np.nan_to_num(scores[n]), n))
    return [n for n in scores.index if is_baseline(n)] + ranked[:limit]


def left_out_note(shown: int, total: int, ranked_by: str) -> str:
    """The line a figure carries when its panels leave trained losses out."""
    return (
        f"At most {shown} of {total} trained losses per panel: the best by {ranked_by} "
        "(evaluation.figures.losses); every loss is in the tables."
    )


def message_figure(text: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def mean_interval(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per ``keys``: the mean of ``value`` and the half-width of its 95% Student-t interval (0 with
    one value: the point alone), NaNs dropped; computed for every group at once."""
    grouped = frame.groupby(keys, sort=False, observed=True)[value].agg(["mean", "std", "count"]).reset_index()
    grouped["half"] = np.nan_to_num(t_half_width(grouped["std"].to_numpy(), grouped["count"].to_numpy()))
    return grouped.drop(columns=["std", "count"])


def _by_test_set(long: pd.DataFrame, label, dataset: str) -> list[str]:
    """Relabel ``long["metric"]`` with ``label(metric)``, prefixed ``<test set>: `` when there are
    several test sets; returns the facet rows in order (own test split first, then by name)."""
    metrics = list(dict.fromkeys(long["metric"]))
    labels = {m: label(m) for m in metrics}  # once per metric, not per row
    sets = test_set_order(long, dataset) if "test_set" in long else []
    if len(sets) <= 1:
        long["metric"] = long["metric"].map(labels)
        return list(labels.values())
    long["metric"] = long["test_set"].astype(str) + ": " + long["metric"].map(labels)
    return [f"{t}: {labels[m]}" for t in sets for m in metrics]


def _loss_panels(
    data: pd.DataFrame, rows: list[str], title: str, labels: dict[str, str], limit: int, draw
) -> plt.Figure:
    """One panel per row label (``data["metric"]``: a metric, per test set when there are several) and
    scale (columns), losses on x in their fixed colours, named with their health (``health_labels``).

    ``data`` has a ``rank`` column (larger is better) by which each panel keeps its ``limit`` best
    trained losses (``best_losses_shown``); ``draw(ax, panel, losses, palette)`` draws one panel.
    """
    palette = loss_palette(data["loss"])
    order = {name: i for i, name in enumerate(palette)}
    scales = sorted(data["scale"].unique())
    panels, total = {}, sum(not is_baseline(n) for n in palette)
    for (row, scale), panel in data.groupby(["metric", "scale"], sort=False, observed=True):
        ranks = panel.groupby("loss", sort=False, observed=True)["rank"].mean()
        kept = sorted(best_losses_shown(ranks, limit), key=order.get)
        panels[(row, scale)] = (panel[panel["loss"].isin(kept)], kept)
    width = max((len(kept) for _, kept in panels.values()), default=1)
    size = (max(3.8, 0.8 + 0.32 * width) * len(scales), 2.4 * len(rows))
    fig, axes = plt.subplots(len(rows), len(scales), figsize=size, squeeze=False, sharey="row")
    for i, row in enumerate(rows):
        for ax, scale in zip(axes[i], scales):
            panel, kept = panels.get((row, scale), (data.iloc[:0], []))
            draw(ax, panel, kept, palette)
            ax.set_xticks(range(len(kept)), [labels.get(n, n) for n in kept], fontsize=7)
            ax.set_xlim(-0.6, max(len(kept), 1) - 0.4)
            _slant(ax)
            ax.set_title(textwrap.fill(f"{row} | x{scale}", 55), size=8)  # long metric names would overlap
    cut = max((sum(not is_baseline(n) for n in kept) for _, kept in panels.values()), default=0)
    note = "\n" + left_out_note(cut, total, "the panel's metric") if total > limit else ""
    fig.suptitle(title + note, y=1.0, fontsize=9)
    fig.tight_layout()
    return fig


def _points(ax: plt.Axes, panel: pd.DataFrame, kept: list[str], palette: dict) -> None:
    """Each loss's mean with its 95% interval (``mean``, ``half``), in the loss's colour."""
    at = {name: k for k, name in enumerate(kept)}
    for r in panel.itertuples():
        ax.errorbar(at[r.loss], r.mean, yerr=r.half, fmt="o", color=palette[r.loss], capsize=3, ms=5)


def _strip(ax: plt.Axes, panel: pd.DataFrame, kept: list[str], palette: dict) -> None:
    """Every value of ``delta`` as a point, jittered around its loss (a fixed jitter: same figure each run)."""
    at = {name: k for k, name in enumerate(kept)}
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(panel))
    x = panel["loss"].map(at).to_numpy(dtype=float) + jitter
    ax.scatter(x, panel["delta"], s=8, c=[palette[n] for n in panel["loss"]], linewidths=0)


def plot_metrics(view: pd.DataFrame, metrics: list[str], title: str, limit: int = DEFAULTS.losses) -> plt.Figure:
    """Point plot per metric (rows; per test set when there are several) and scale (columns): mean
    over images (each averaged over seeds) with its 95% t-interval; at most ``limit`` trained
    losses per panel, the best by the panel's metric."""
    shown = [m for m in metrics if view[m].notna().any()]
    if not shown:
        return message_figure(f"{title}: no metric values")
    keys = [k for k in ("test_set", "loss", "scale", "image") if k in view]
    per_image = view.groupby(keys, observed=True)[shown].mean().reset_index()
    long = per_image.melt(id_vars=keys, value_vars=shown, var_name="metric", value_name="value")
    long["column"] = long["metric"]
    stats = mean_interval(long, [k for k in (*keys[:-1], "metric", "column") if k != "image"], "value")
    rows = _by_test_set(stats, metric_header, view["dataset"].iloc[0])
    stats["rank"] = _scored(stats, "mean")
    return _loss_panels(stats, rows, title, health_labels(view), limit, _points)


def _scored(frame: pd.DataFrame, value: str) -> np.ndarray:
    """``frame[value]`` made larger-is-better by the direction of each row's metric (``column``)."""
    out = np.empty(len(frame))
    for column, where in frame.groupby("column", sort=False).indices.items():
        out[where] = score(frame[value].to_numpy()[where], find_column(column).direction)
    return out


def first_measured(frame: pd.DataFrame, role: str) -> str | None:
    """The first metric column of ``role`` (display order) with a value in ``frame``, or None."""
    return next((m for m in with_role(shown_columns(frame.columns), role) if frame[m].notna().any()), None)


def _axis_label(column: str, role: str) -> str:
    """ "PSNR Y (dB) ↑ (distortion)": the column, which way is better, the axis's role."""
    info = find_column(column)
    return f"{info.label} {ARROW[info.direction]} ({role})"


def plot_perception_distortion(
    summary: pd.DataFrame,
    perception: str | None,
    reason: str,
    health: pd.DataFrame | None = None,
    limit: int = DEFAULTS.losses,
) -> plt.Figure:
    """The perception metric (``perception``, x) against the first distortion metric measured (y;
    ``first_measured``), one point per (dataset, model, loss, scale), 95% CI error bars, axes turned
    so that better is up and left (Blau and Michaeli, CVPR 2018); one row of panels per test set
    when there are several (hollow markers: a model tested on another dataset than it was trained
    on, labelled with its training dataset); each "model / loss" of the legend marked with its
    runs' health (``health_labels`` of ``health``, the per-image rows). Without one of the two
    metrics, the other alone, titled with why (``reason``: why the perception metric is missing).

    At most ``limit`` trained "model / loss" are named and coloured: those of best mean rank on
    the two axes over the panels; the others are small grey points, unnamed."""
    summary = summary.copy()
    base = summary["loss"] == BASELINE_LOSS
    summary.loc[base, "loss"] = summary.loc[base, "model"] + " (baseline)"
    markers = dict(zip(sorted(summary["model"].unique()), "osD^vP*X"))
    labels = health_labels(_per_model(health if health is not None else pd.DataFrame()))
    style = {"colors": loss_palette(summary["loss"]), "markers": markers, "labels": labels}
    distortion = first_measured(summary, "distortion")
    if perception is None and distortion is None:
        return message_figure("Perception-distortion plane: no distortion or perception metric was measured.")
    if perception is None:
        title = f"Distortion only: {role_titles('perception')} (the perception axis) is missing: "
        return _one_axis(summary, distortion, "distortion", title + perception_absence(reason), style, limit)
    if distortion is None:
        title = f"Perception only: {role_titles('distortion')} (the distortion axis) was not measured"
        return _one_axis(summary, perception, "perception", title, style, limit)
    scales = sorted(summary["scale"].unique())
    sets = sorted(summary["test_set"].astype(str).unique())
    named, total = _named_on_the_plane(summary, perception, distortion, limit)
    fig, axes = plt.subplots(len(sets), len(scales), figsize=(4.2 * len(scales), 3.6 * len(sets)), squeeze=False)
    for i, test_set in enumerate(sets):
        for ax, scale in zip(axes[i], scales):
            panel = summary[(summary["scale"] == scale) & (summary["test_set"].astype(str) == test_set)]
            _pd_panel(ax, panel, perception, distortion, style, named)
            ax.set_title(f"x{scale}" if len(sets) == 1 else f"test set {test_set} | x{scale}")
    unique = {}
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        unique.update(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    note = ""
    if total > limit:
        note = f"\n{limit} of {total} trained model / loss named (best mean rank on both axes; grey: the others)"
    fig.suptitle("Perception-distortion plane (better: up and left)" + note)
    fig.tight_layout()
    return fig


def _pd_panel(ax: plt.Axes, panel: pd.DataFrame, x: str, y: str, style: dict, named: set[tuple]) -> None:
    """One panel of the plane: the baselines and ``named`` (model, loss) as labelled points with
    their CIs, the other losses as small grey points; axes turned so that better is up and left."""
    for r in panel.to_dict("records"):
        if is_baseline(r["loss"]) or (r["model"], r["loss"]) in named:
            _pd_point(ax, r, x, y, style)
        else:
            ax.plot(r[x], r[y], ".", color="0.7", ms=4, zorder=0)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    ax.set_xlabel(_axis_label(x, "perception"))
    ax.set_ylabel(_axis_label(y, "distortion"))
    if find_column(x).direction == "max":  # better: left
        ax.invert_xaxis()
    if find_column(y).direction == "min":  # better: up
        ax.invert_yaxis()


def _named_on_the_plane(summary: pd.DataFrame, x: str, y: str, limit: int) -> tuple[set[tuple], int]:
    """The (model, loss) pairs the plane names: the ``limit`` trained ones of best mean rank over
    both axes and every panel (test set, scale); and how many trained pairs there are."""
    trained = summary[~summary["loss"].map(is_baseline)]
    if trained.empty:
        return set(), 0
    panels = [trained["test_set"].astype(str), trained["scale"]]
    ranks = [
        pd.Series(score(trained[c], find_column(c).direction), index=trained.index)
        .groupby(panels)
        .rank(ascending=False)
        for c in (x, y)
    ]
    mean = pd.concat(ranks, axis=1).mean(axis=1).groupby([trained["model"], trained["loss"]]).mean()
    kept = sorted(mean.index, key=lambda k: (not np.isfinite(mean[k]), np.nan_to_num(mean[k]), k))[:limit]
    return set(kept), len(mean)


def perception_absence(reason: str) -> str:
    """Why the perception metric is missing, in a few words and without paths (the reasons in full,
    with the weight file's path, are in the tables' notes and each run's eval.json)."""
    if not reason:
        return f"{role_titles('perception')} is not in evaluation.metrics"
    if "not cached" in reason:
        return "its pretrained weights were not fetched (snakemake fetch_weights --cores 1)"
    return "it could not be computed (the tables' notes say why)"


def _one_axis(summary: pd.DataFrame, column: str, role: str, title: str, style: dict, limit: int) -> plt.Figure:
    """One axis of the plane alone, when the other metric is missing: ``column`` with its 95% CI
    per model / loss, best at the top (one panel per test set and scale; the ``limit`` best
    trained ones and every baseline), titled with why."""
    scales = sorted(summary["scale"].unique())
    sets = sorted(summary["test_set"].astype(str).unique())
    baseline = summary["loss"].map(is_baseline)
    trained = int(summary[~baseline].groupby(["test_set", "scale"]).size().max()) if (~baseline).any() else 0
    baselines = int(summary[baseline].groupby(["test_set", "scale"]).size().max()) if baseline.any() else 0
    height = 0.9 + 0.28 * (min(limit, trained) + baselines)
    if trained > limit:
        title += "\n" + left_out_note(limit, trained, find_column(column).label)
    fig, axes = plt.subplots(len(sets), len(scales), figsize=(4.2 * len(scales), height * len(sets)), squeeze=False)
    for i, test_set in enumerate(sets):
        for ax, scale in zip(axes[i], scales):
            panel = summary[(summary["scale"] == scale) & (summary["test_set"].astype(str) == test_set)]
            scores = score(panel[column], find_column(column).direction)
            panel = panel.iloc[np.argsort(np.nan_to_num(scores, nan=-np.inf), kind="stable")]
            ranked = ~panel["loss"].map(is_baseline)
            panel = panel[~ranked | (ranked.cumsum() > ranked.sum() - limit)]  # the best last: at the top
            names = []
            for k, (_, r) in enumerate(panel.iterrows()):
                name = r["loss"] if r["loss"].endswith("(baseline)") else f"{r['model']} / {r['loss']}"
                names.append(style["labels"].get(name, name))
                marker, colour = style["markers"][r["model"]], style["colors"][r["loss"]]
                ax.errorbar(r[column], k, xerr=_nan0(r[f"{column}_ci95"]), fmt=marker, color=colour)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set_title(f"x{scale}" if len(sets) == 1 else f"test set {test_set} | x{scale}")
            ax.set_xlabel(_axis_label(column, role))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _per_model(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each loss named "model / loss" (the perception-distortion legend's names)."""
    return frame.assign(loss=frame["model"] + " / " + frame["loss"]) if len(frame) else frame


def _pd_point(ax: plt.Axes, r: pd.Series, x: str, y: str, style: dict) -> None:
    """One summary row as a point with its CIs; hollow and labelled when trained on another dataset."""
    baseline = r["loss"].endswith("(baseline)")  # untrained: the same on a test set whatever the dataset
    name = f"{r['model']} / {r['loss']}"
    label = r["loss"] if baseline else style["labels"].get(name, name)
    cross = not baseline and str(r["test_set"]) != str(r["dataset"])
    colour = style["colors"][r["loss"]]
    ax.errorbar(
        r[x],
        r[y],
        xerr=_nan0(r[f"{x}_ci95"]),
        yerr=_nan0(r[f"{y}_ci95"]),
        fmt=style["markers"][r["model"]],
        color=colour,
        markerfacecolor="none" if cross else colour,
        capsize=2,
        ms=6,
        label=f"{label} (trained on {r['dataset']})" if cross else label,
    )


def _nan0(v: float) -> float:
    return 0.0 if v is None or math.isnan(v) else v


def plot_training_curves(
    hist: pd.DataFrame, health: pd.DataFrame | None = None, limit: int = DEFAULTS.losses
) -> plt.Figure:
    """Each loss term (unweighted, moving average over 2% of the steps) and validation PSNR-Y vs step,
    mean over seeds, one column per (dataset, model, scale); the losses named with their runs' health
    (``health_labels`` of ``health``, the per-image rows). At most ``limit`` losses per column: the
    best by their last validation PSNR-Y."""
    if hist.empty:
        return message_figure("No trained runs: no training curves.")
    labels = health_labels(health if health is not None else pd.DataFrame())
    palette = loss_palette(hist["loss"])
    hist = hist.assign(
        run=hist["dataset"].astype(str) + " / " + hist["model"].astype(str) + " / x" + hist["scale"].astype(str)
    )
    quantities = set(hist["quantity"])
    order = ["loss"] + sorted(q for q in quantities if q not in ("loss", VALIDATION)) + [VALIDATION]
    order = [q for q in order if q in quantities]
    runs = sorted(hist["run"].unique())
    # the line is the mean over seeds, the band their range (min to max)
    curves = hist.groupby(["run", "quantity", "loss", "step"], observed=True)["value"].agg(["mean", "min", "max"])
    present = set(curves.index.droplevel(["loss", "step"]))
    kept = {run: _best_trained(curves["mean"].xs(run, level="run"), limit) for run in runs}
    fig, axes = plt.subplots(len(order), len(runs), figsize=(3.3 * len(runs), 2.2 * len(order)), squeeze=False)
    for j, run in enumerate(runs):
        for i, quantity in enumerate(order):
            ax = axes[i][j]
            if (run, quantity) in present:
                for loss, line in curves.loc[(run, quantity)].groupby(level="loss", observed=True):
                    if loss in kept[run]:
                        steps = line.index.get_level_values("step")
                        ax.plot(steps, line["mean"].to_numpy(), color=palette[loss], lw=1)
                        if (line["max"] > line["min"]).any():
                            ax.fill_between(steps, line["min"], line["max"], color=palette[loss], alpha=0.2, lw=0)
                if quantity != VALIDATION and (curves.loc[(run, quantity), "min"] > 0).all():
                    ax.set_yscale("log")
            ax.set_title(textwrap.fill(f"{quantity} | {run}", 45), size=8)
            ax.set_xlabel("step" if i == len(order) - 1 else "")
    shown = [n for n in palette if any(n in k for k in kept.values())]
    # long (health-marked) names wrapped: the legend does not widen the figure
    handles = [Line2D([], [], color=palette[n], label=textwrap.fill(labels.get(n, n), 40)) for n in shown]
    fig.legend(handles=handles, title="loss", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
    total = len({n for n in palette if not is_baseline(n)})
    note = "\n" + left_out_note(limit, total, "last validation PSNR-Y") if total > limit else ""
    title = "Training: total loss, each term (unweighted), validation PSNR-Y (dB)\n"
    fig.suptitle(title + "lines: mean over seeds; bands: range over seeds" + note, y=1.0, size=9)
    fig.tight_layout()
    return fig


def _best_trained(curves: pd.Series, limit: int) -> set[str]:
    """The ``limit`` losses of one column of the training curves with the highest last validation
    PSNR-Y (``curves``: value by quantity, loss, step); by name without validation."""
    losses = curves.index.get_level_values("loss").unique()
    last = pd.Series(np.nan, index=losses)
    if VALIDATION in curves.index.get_level_values("quantity"):
        last = curves.xs(VALIDATION, level="quantity").groupby(level="loss", observed=True).last().reindex(losses)
    return set(best_losses_shown(last, limit))


def plot_grid(view: pd.DataFrame, title: str, limit: int = DEFAULTS.losses) -> plt.Figure:
    """Same crops of the first test images: ground truth, baseline(s), every loss (first seed; at
    most ``limit``, the best by the first distortion metric); the view holds one test set
    (crops.npz beside each metrics file, column ``eval_dir``)."""
    runs = view.sort_values("seed").drop_duplicates(["loss"])[["loss", "eval_dir"]]
    measure = first_measured(view, "distortion")  # each crop labelled with its image's value
    values = view.groupby(["loss", "image"])[measure].mean() if measure else pd.Series(dtype=float)
    if measure:
        means = values.groupby(level="loss").mean()
        ranks = pd.Series(score(means, find_column(measure).direction), index=means.index).reindex(runs["loss"])
    else:
        ranks = pd.Series(np.nan, index=runs["loss"])
    kept = set(best_losses_shown(ranks, limit))
    trained = [(r.loss, r.eval_dir) for r in runs.itertuples() if not r.loss.endswith("(baseline)") and r.loss in kept]
    baselines = [(r.loss, r.eval_dir) for r in runs.itertuples() if r.loss.endswith("(baseline)")]
    columns = baselines + sorted(trained)
    total = sum(not r.loss.endswith("(baseline)") for r in runs.itertuples())
    crops = {}
    for loss, eval_dir in columns:
        path = Path(eval_dir) / "crops.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                crops[loss] = {k: z[k] for k in z.files}
    first = next(iter(crops.values()), {})
    images = sorted(k.split("__", 1)[1] for k in first if k.startswith("hr__"))
    if not images:
        return message_figure(f"{title}: no crops (evaluation.crops.images is 0)")
    names = ["ground truth"] + [loss for loss, _ in columns if loss in crops]
    fig, axes = plt.subplots(
        len(images), len(names), figsize=(1.9 * len(names), 2.3 * len(images)), squeeze=False, layout="constrained"
    )
    for i, image in enumerate(images):
        for j, name in enumerate(names):
            ax = axes[i][j]
            arr = first[f"hr__{image}"] if name == "ground truth" else crops[name][f"sr__{image}"]
            ax.imshow(np.transpose(arr, (1, 2, 0)), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
            if name != "ground truth" and (name, image) in values.index:
                ax.set_xlabel(_value_text(values[(name, image)], measure), fontsize=7)
            if j == 0:
                top, left, side = first[f"box__{image}"]
                ax.set_ylabel(f"{image}\n({top},{left}) {side}px", fontsize=7)
    under = f" ({find_column(measure).short} of the whole image under each crop)" if measure else ""
    by = find_column(measure).short if measure else "name"
    note = "\n" + left_out_note(limit, total, by).replace(" per panel", "") if total > limit else ""
    fig.suptitle(f"{title}{under}{note}", fontsize=9)
    return fig


def _value_text(value: float, column: str) -> str:
    """A value in its column's format and unit: "31.24 dB"."""
    info = find_column(column)
    return f"{value:{info.format}} {info.unit}".rstrip()


def _overview_stats(per_image: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Per (dataset, test set, model, loss, scale) and metric: the mean over images (each averaged
    over seeds) and its 95% t half-width; the baseline named "<model> (baseline)"; ``metric`` the
    facet row's label, prefixed "<dataset>" or "<dataset> → <test set>" when there are several."""
    frame = per_image.copy()
    base = frame["loss"] == BASELINE_LOSS
    frame.loc[base, "loss"] = frame.loc[base, "model"].astype(str) + " (baseline)"
    keys = [*GROUP, "image"]
    long = frame.groupby(keys, observed=True)[metrics].mean().reset_index()
    long = long.melt(id_vars=keys, value_vars=metrics, var_name="column", value_name="value")
    stats = mean_interval(long, [*GROUP, "column"], "value")
    stats["metric"] = stats["column"].map(metric_header)
    dataset, test_set = stats["dataset"].astype(str), stats["test_set"].astype(str)
    where = dataset.where(test_set == dataset, dataset + " → " + test_set)
    if where.nunique() > 1:
        stats["metric"] = where + ": " + stats["metric"]
    return stats


def plot_summary(per_image: pd.DataFrame, path: str | Path, limit: int = DEFAULTS.losses) -> None:
    """The overview (psnr_ssim.png): the measured metrics that declare ``overview`` (every shown
    metric when none does), one row per metric (per "<dataset>" or "<dataset> → <test set>" when
    the study has several) and one column per scale; per model (x) each loss is a point, the mean
    over images (each averaged over seeds) with its 95 % t-interval, in its study-wide colour,
    named with its runs' health (``health_labels``), the untrained baseline named
    "<model> (baseline)". Points, not bars: an axis from zero would hide differences of 0.1 dB.
    At most ``limit`` trained losses: those of best mean rank over the panels."""
    measured = [m for m in shown_columns(per_image.columns) if per_image[m].notna().any()]
    metrics = [m for m in measured if find_column(m).overview] or measured
    if not metrics:
        save_figure(message_figure("No metric values: nothing to plot."), path)
        return
    stats = _overview_stats(per_image, metrics)
    rows = list(dict.fromkeys(stats["metric"]))  # metric by metric, as measured
    stats["rank"] = _scored(stats, "mean")
    stats["rank"] = stats.groupby(["metric", "scale"])["rank"].rank(ascending=False)  # 1: best of its panel
    mean_rank = stats.groupby("loss")["rank"].mean()
    kept = best_losses_shown(-mean_rank, limit)
    total = sum(not is_baseline(n) for n in mean_rank.index)
    stats = stats[stats["loss"].isin(kept)]
    palette, labels = loss_palette(stats["loss"]), health_labels(per_image)
    models, scales = sorted(stats["model"].astype(str).unique()), sorted(stats["scale"].unique())
    _style()
    fig, axes = plt.subplots(
        len(rows),
        len(scales),
        figsize=(max(3.9, 1.3 * len(models)) * len(scales), 2.6 * len(rows)),
        squeeze=False,
        sharey="row",
    )
    offsets = dict(zip(palette, np.linspace(-0.25, 0.25, len(palette)) if len(palette) > 1 else [0.0]))
    for i, row in enumerate(rows):
        for ax, scale in zip(axes[i], scales):
            panel = stats[(stats["metric"] == row) & (stats["scale"] == scale)]
            for r in panel.itertuples():
                x = models.index(str(r.model)) + offsets[r.loss]
                ax.errorbar(x, r.mean, yerr=r.half, fmt="o", color=palette[r.loss], capsize=2, ms=4)
            ax.set_xticks(range(len(models)), models, fontsize=7)
            ax.set_xlim(-0.6, len(models) - 0.4)
            ax.set_title(textwrap.fill(f"{row} | x{scale}", 55), size=8)
    handles = [
        Line2D([], [], color=palette[n], marker="o", ls="none", label=textwrap.fill(labels.get(n, n), 40))
        for n in palette
    ]
    fig.legend(handles=handles, title="loss", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
    note = "\n" + left_out_note(limit, total, "mean rank over the panels") if total > limit else ""
    fig.suptitle("Overview: mean and 95% CI over test images (each averaged over seeds)" + note, y=1.0, size=9)
    fig.tight_layout()
    save_figure(fig, path)


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names, then close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(fig)


def paired_deltas(rows: pd.DataFrame, reference: str, metrics: list[str]) -> pd.DataFrame:
    """Long table of per-image differences to ``reference`` (values averaged over seeds first):
    one row per (test set, loss, scale, image, metric) with ``delta`` = loss - reference and
    ``gain`` = the same difference made larger-is-better by the metric's direction (``score``);
    an image is paired with the reference on the same test set only."""
    shown = [m for m in metrics if m in rows and rows[m].notna().any()]
    keys = ["test_set", "loss", "scale", "image"] if "test_set" in rows else ["loss", "scale", "image"]
    ids = [k for k in keys if k != "loss"]
    means = rows.groupby(keys)[shown].mean()
    if reference not in means.index.get_level_values("loss"):
        return pd.DataFrame(columns=[*keys, "metric", "delta", "gain"])
    ref = means.xs(reference, level="loss")
    scored = means.apply(lambda v: score(v, find_column(v.name).direction))
    ref_scored = scored.xs(reference, level="loss")
    out = []
    for loss, block in means.groupby(level="loss"):
        if loss == reference:
            continue
        own = block.droplevel("loss")
        diff = (own - ref.reindex(own.index)).reset_index().melt(id_vars=ids, var_name="metric", value_name="delta")
        gain = scored.xs(loss, level="loss") - ref_scored.reindex(own.index)
        diff["gain"] = gain.reset_index().melt(id_vars=ids, var_name="metric", value_name="gain")["gain"]
        out.append(diff.assign(loss=loss))
    return pd.concat(out, ignore_index=True).dropna(subset=["delta"]) if out else pd.DataFrame()


def plot_paired_deltas(
    rows: pd.DataFrame,
    reference: str,
    metrics: list[str],
    title: str,
    health: pd.DataFrame | None = None,
    limit: int = DEFAULTS.losses,
) -> plt.Figure:
    """Every test image's difference to the reference as a point, per loss (x), metric (rows; per
    test set when there are several) and scale (columns), with the zero line: the paired evidence
    behind tables/paired.csv. At most ``limit`` losses per panel: those with the largest mean gain
    over the reference (tables/paired.csv's ``gain``).

    ``rows`` holds the healthy runs only; ``health`` (default ``rows``), every per-image row of the
    (dataset, model), names the losses with their health: a loss some of whose seeds did not
    complete is shown with only its completed seeds, and says so."""
    labels = health_labels(health if health is not None else rows)
    long = paired_deltas(rows, reference, metrics)
    if long.empty:
        return message_figure(f"{title}: no paired values (reference {reference!r} has no healthy runs)")
    long["column"] = long["metric"]
    order = _by_test_set(long, lambda m: f"Δ {metric_header(m)}", rows["dataset"].iloc[0])
    long["rank"] = long.groupby(["metric", "scale", "loss"], observed=True)["gain"].transform("mean")
    title = f"{title}: each test image minus {labels.get(reference, reference)}"
    figure = _loss_panels(long, order, title, labels, limit, _strip)
    for ax in figure.axes:
        ax.axhline(0, color="0.3", linewidth=0.8)
    return figure
