"""The study's figures (PNG and PDF, one seaborn style): metric point plots with CIs faceted by
scale, the perception-distortion plane, training curves, visual comparison grids.

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
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from srloss.atomic import atomic_path  # noqa: E402
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
from srloss.report.stats import describe, score  # noqa: E402


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


def _relabelled(frame: pd.DataFrame, labels: dict[str, str]) -> tuple[pd.DataFrame, dict[str, tuple]]:
    """``frame`` with its losses named as ``labels`` says and the palette keyed by those names: the
    colour stays the loss's own (``loss_palette`` of the plain names), whatever its health mark."""
    palette = {labels.get(n, n): colour for n, colour in loss_palette(frame["loss"]).items()}
    return frame.assign(loss=frame["loss"].map(lambda n: labels.get(n, n))), palette


def _slant(ax: plt.Axes) -> None:
    """Loss names on x slanted, each ending at its tick (long health-marked names do not overlap)."""
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")


def _save(fig: plt.Figure, root: Path, stem: str) -> None:
    """Write ``stem``.png and ``stem``.pdf atomically, then close the figure."""
    for ext in ("png", "pdf"):
        with atomic_path(root / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=130, bbox_inches="tight")
    plt.close(fig)


def message_figure(text: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def _t_interval(values) -> tuple[float, float]:
    d = describe(values)
    return (d["ci_low"], d["ci_high"]) if d["n"] > 1 else (d["mean"], d["mean"])


def _by_test_set(long: pd.DataFrame, label, dataset: str) -> list[str]:
    """Relabel ``long["metric"]`` with ``label(metric)``, prefixed ``<test set>: `` when there are
    several test sets; returns the facet rows in order (own test split first, then by name)."""
    metrics = list(dict.fromkeys(long["metric"]))
    sets = test_set_order(long, dataset) if "test_set" in long else []
    if len(sets) <= 1:
        long["metric"] = long["metric"].map(label)
        return [label(m) for m in metrics]
    long["metric"] = long["test_set"].astype(str) + ": " + long["metric"].map(label)
    return [f"{t}: {label(m)}" for t in sets for m in metrics]


def _loss_grid(
    long: pd.DataFrame, y: str, title: str, labels: dict[str, str], row_order: list[str] | None = None, **plot
) -> plt.Figure:
    """One panel per metric (rows) and scale (columns), losses on x in their fixed colours, named
    with their health (``health_labels``)."""
    long, palette = _relabelled(long, labels)
    grid = sns.catplot(
        data=long,
        x="loss",
        y=y,
        hue="loss",
        row="metric",
        col="scale",
        row_order=row_order,
        order=list(palette),
        hue_order=list(palette),
        palette=palette,
        sharey="row",
        height=2.4,
        aspect=1.6,
        legend=False,
        **plot,
    )
    grid.set_titles("{row_name} | x{col_name}", size=8)
    grid.set_axis_labels("", "")
    for ax in grid.axes.flat:
        _slant(ax)
        ax.set_title(textwrap.fill(ax.get_title(), 55), size=8)  # long metric names would overlap
    grid.figure.suptitle(title, y=1.0)
    return grid.figure


def plot_metrics(view: pd.DataFrame, metrics: list[str], title: str) -> plt.Figure:
    """Point plot per metric (rows; per test set when there are several) and scale (columns): mean
    over images with 95% t-interval."""
    shown = [m for m in metrics if view[m].notna().any()]
    if not shown:
        return message_figure(f"{title}: no metric values")
    keys = [k for k in ("test_set", "loss", "scale", "image") if k in view]
    per_image = view.groupby(keys)[shown].mean().reset_index()
    long = per_image.melt(id_vars=keys, value_vars=shown, var_name="metric", value_name="value")
    rows = _by_test_set(long, metric_header, view["dataset"].iloc[0])
    plot = {"kind": "point", "errorbar": _t_interval, "linestyle": "none", "capsize": 0.2}
    return _loss_grid(long, "value", title, health_labels(view), rows, **plot)


def first_measured(frame: pd.DataFrame, role: str) -> str | None:
    """The first metric column of ``role`` (display order) with a value in ``frame``, or None."""
    return next((m for m in with_role(shown_columns(frame.columns), role) if frame[m].notna().any()), None)


def _axis_label(column: str, role: str) -> str:
    """ "PSNR Y (dB) ↑ (distortion)": the column, which way is better, the axis's role."""
    info = find_column(column)
    return f"{info.label} {ARROW[info.direction]} ({role})"


def plot_perception_distortion(
    summary: pd.DataFrame, perception: str | None, reason: str, health: pd.DataFrame | None = None
) -> plt.Figure:
    """The perception metric (``perception``, x) against the first distortion metric measured (y;
    ``first_measured``), one point per (dataset, model, loss, scale), 95% CI error bars, axes turned
    so that better is up and left (Blau and Michaeli, CVPR 2018); one row of panels per test set
    when there are several (hollow markers: a model tested on another dataset than it was trained
    on, labelled with its training dataset); each "model / loss" of the legend marked with its
    runs' health (``health_labels`` of ``health``, the per-image rows). Without one of the two
    metrics, the other alone, titled with why (``reason``: why the perception metric is missing)."""
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
        return _one_axis(summary, distortion, "distortion", title + perception_absence(reason), style)
    if distortion is None:
        title = f"Perception only: {role_titles('distortion')} (the distortion axis) was not measured"
        return _one_axis(summary, perception, "perception", title, style)
    scales = sorted(summary["scale"].unique())
    sets = sorted(summary["test_set"].astype(str).unique())
    fig, axes = plt.subplots(len(sets), len(scales), figsize=(4.2 * len(scales), 3.6 * len(sets)), squeeze=False)
    for i, test_set in enumerate(sets):
        for ax, scale in zip(axes[i], scales):
            panel = summary[(summary["scale"] == scale) & (summary["test_set"].astype(str) == test_set)]
            for _, r in panel.iterrows():
                _pd_point(ax, r, perception, distortion, style)
            ax.set_title(f"x{scale}" if len(sets) == 1 else f"test set {test_set} | x{scale}")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
            ax.set_xlabel(_axis_label(perception, "perception"))
            ax.set_ylabel(_axis_label(distortion, "distortion"))
            if find_column(perception).direction == "max":  # better: left
                ax.invert_xaxis()
            if find_column(distortion).direction == "min":  # better: up
                ax.invert_yaxis()
    unique = {}
    for ax in axes.flat:
        handles, labels = ax.get_legend_handles_labels()
        unique.update(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.suptitle("Perception-distortion plane (better: up and left)")
    fig.tight_layout()
    return fig


def perception_absence(reason: str) -> str:
    """Why the perception metric is missing, in a few words and without paths (the reasons in full,
    with the weight file's path, are in the tables' notes and each run's eval.json)."""
    if not reason:
        return f"{role_titles('perception')} is not in evaluation.metrics"
    if "not cached" in reason:
        return "its pretrained weights were not fetched (snakemake fetch_weights --cores 1)"
    return "it could not be computed (the tables' notes say why)"


def _one_axis(summary: pd.DataFrame, column: str, role: str, title: str, style: dict) -> plt.Figure:
    """One axis of the plane alone, when the other metric is missing: ``column`` with its 95% CI
    per model / loss, best at the top (one panel per test set and scale), titled with why."""
    scales = sorted(summary["scale"].unique())
    sets = sorted(summary["test_set"].astype(str).unique())
    height = 0.9 + 0.28 * summary.groupby(["test_set", "scale"]).size().max()
    fig, axes = plt.subplots(len(sets), len(scales), figsize=(4.2 * len(scales), height * len(sets)), squeeze=False)
    for i, test_set in enumerate(sets):
        for ax, scale in zip(axes[i], scales):
            panel = summary[(summary["scale"] == scale) & (summary["test_set"].astype(str) == test_set)]
            panel = panel.iloc[np.argsort(score(panel[column], find_column(column).direction), kind="stable")]
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


def plot_training_curves(hist: pd.DataFrame, health: pd.DataFrame | None = None) -> plt.Figure:
    """Each loss term (unweighted, moving average over 2% of the steps) and validation PSNR-Y vs step;
    the losses named with their runs' health (``health_labels`` of ``health``, the per-image rows)."""
    if hist.empty:
        return message_figure("No trained runs: no training curves.")
    hist, palette = _wrapped(*_relabelled(hist, health_labels(health if health is not None else pd.DataFrame())))
    hist["run"] = hist["dataset"] + " / " + hist["model"] + " / x" + hist["scale"].astype(str)
    order = ["loss"] + sorted(q for q in hist["quantity"].unique() if q not in ("loss", VALIDATION)) + [VALIDATION]
    order = [q for q in order if q in set(hist["quantity"])]
    grid = sns.relplot(
        data=hist,
        kind="line",
        x="step",
        y="value",
        hue="loss",
        row="quantity",
        col="run",
        hue_order=list(palette),
        palette=palette,
        row_order=order,
        errorbar=("pi", 100),  # the band spans the seeds (min to max); the line is their mean
        height=2.2,
        aspect=1.5,
        facet_kws={"sharey": False},
    )
    grid.set_titles("{row_name} | {col_name}", size=8)
    for ax in grid.axes.flat:
        ax.set_title(textwrap.fill(ax.get_title(), 45), size=8)
    for (quantity, _), ax in grid.axes_dict.items():
        if quantity != VALIDATION and (hist.loc[hist["quantity"] == quantity, "value"] > 0).all():
            ax.set_yscale("log")
    grid.figure.suptitle(
        "Training: total loss, each term (unweighted), validation PSNR-Y (dB)\n"
        "lines: mean over seeds; bands: range over seeds",
        y=1.02,
        size=9,
    )
    return grid.figure


def plot_grid(view: pd.DataFrame, title: str) -> plt.Figure:
    """Same crops of the first test images: ground truth, baseline(s), every loss (first seed); the
    view holds one test set (crops.npz beside each metrics file, column ``eval_dir``)."""
    runs = view.sort_values("seed").drop_duplicates(["loss"])[["loss", "eval_dir"]]
    trained = [(r.loss, r.eval_dir) for r in runs.itertuples() if not r.loss.endswith("(baseline)")]
    baselines = [(r.loss, r.eval_dir) for r in runs.itertuples() if r.loss.endswith("(baseline)")]
    columns = baselines + sorted(trained)
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
    measure = first_measured(view, "distortion")  # each crop labelled with its image's value
    values = view.groupby(["loss", "image"])[measure].mean() if measure else pd.Series(dtype=float)
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
    fig.suptitle(f"{title}{under}", fontsize=9)
    return fig


def _value_text(value: float, column: str) -> str:
    """A value in its column's format and unit: "31.24 dB"."""
    info = find_column(column)
    return f"{value:{info.format}} {info.unit}".rstrip()


def plot_summary(per_image: pd.DataFrame, path: str | Path) -> None:
    """The overview (psnr_ssim.png): the measured metrics that declare ``overview`` (every shown
    metric when none does), one row per metric (per "<dataset>" or "<dataset> → <test set>" when
    the study has several) and one column per scale; per model (x) each loss is a point, the mean
    over images with its 95 % t-interval, in its study-wide colour, the untrained baseline named
    "<model> (baseline)". Points, not bars: an axis from zero would hide differences of 0.1 dB."""
    measured = [m for m in shown_columns(per_image.columns) if per_image[m].notna().any()]
    metrics = [m for m in measured if find_column(m).overview] or measured
    if not metrics:
        save_figure(message_figure("No metric values: nothing to plot."), path)
        return
    frame = per_image.copy()
    base = frame["loss"] == BASELINE_LOSS
    frame.loc[base, "loss"] = frame.loc[base, "model"].astype(str) + " (baseline)"
    frame, palette = _wrapped(*_relabelled(frame, health_labels(per_image)))
    long = frame.melt(id_vars=GROUP + ["image"], value_vars=metrics, var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(metric_header)
    where = (
        long["dataset"]
        .astype(str)
        .where(long["test_set"] == long["dataset"], long["dataset"].astype(str) + " → " + long["test_set"].astype(str))
    )
    if where.nunique() > 1:
        long["metric"] = where + ": " + long["metric"]
    per_image_mean = long.groupby(["metric", "scale", "model", "loss", "image"], as_index=False)["value"].mean()
    _style()
    grid = sns.catplot(
        data=per_image_mean,
        kind="point",
        x="model",
        y="value",
        hue="loss",
        hue_order=list(palette),
        palette=palette,
        row="metric",
        col="scale",
        sharey="row",
        errorbar=_t_interval,
        dodge=0.5,
        linestyle="none",
        capsize=0.1,
        height=2.6,
        aspect=1.5,
    )
    grid.set_titles("{row_name} | x{col_name}", size=8)
    grid.set_axis_labels("", "")
    for ax in grid.axes.flat:
        ax.set_title(textwrap.fill(ax.get_title(), 55), size=8)
    grid.figure.suptitle("Overview: mean and 95% CI over test images (each averaged over seeds)", y=1.0, size=9)
    save_figure(grid.figure, path)


def _wrapped(frame: pd.DataFrame, palette: dict[str, tuple], width: int = 40) -> tuple[pd.DataFrame, dict]:
    """Long (health-marked) loss names wrapped onto several lines, in the data and the palette
    alike, before plotting: the legend is sized for the wrapped names and does not widen the figure."""
    wrap = {name: textwrap.fill(name, width) for name in palette}
    return frame.assign(loss=frame["loss"].map(lambda n: wrap.get(n, n))), {wrap[n]: c for n, c in palette.items()}


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names, then close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(fig)


def paired_deltas(rows: pd.DataFrame, reference: str, metrics: list[str]) -> pd.DataFrame:
    """Long table of per-image differences to ``reference`` (values averaged over seeds first):
    one row per (test set, loss, scale, image, metric) with ``delta`` = loss - reference; an image
    is paired with the reference on the same test set only."""
    shown = [m for m in metrics if m in rows and rows[m].notna().any()]
    keys = ["test_set", "loss", "scale", "image"] if "test_set" in rows else ["loss", "scale", "image"]
    ids = [k for k in keys if k != "loss"]
    means = rows.groupby(keys)[shown].mean()
    if reference not in means.index.get_level_values("loss"):
        return pd.DataFrame(columns=[*keys, "metric", "delta"])
    ref = means.xs(reference, level="loss")
    out = []
    for loss, block in means.groupby(level="loss"):
        if loss == reference:
            continue
        own = block.droplevel("loss")
        diff = (own - ref.reindex(own.index)).reset_index()
        out.append(diff.melt(id_vars=ids, var_name="metric", value_name="delta").assign(loss=loss))
    return pd.concat(out, ignore_index=True).dropna(subset=["delta"]) if out else pd.DataFrame()


def plot_paired_deltas(
    rows: pd.DataFrame, reference: str, metrics: list[str], title: str, health: pd.DataFrame | None = None
) -> plt.Figure:
    """Every test image's difference to the reference as a point, per loss (x), metric (rows; per
    test set when there are several) and scale (columns), with the zero line: the paired evidence
    behind tables/paired.csv.

    ``rows`` holds the healthy runs only; ``health`` (default ``rows``), every per-image row of the
    (dataset, model), names the losses with their health: a loss some of whose seeds did not
    complete is shown with only its completed seeds, and says so."""
    labels = health_labels(health if health is not None else rows)
    long = paired_deltas(rows, reference, metrics)
    if long.empty:
        return message_figure(f"{title}: no paired values (reference {reference!r} has no healthy runs)")
    order = _by_test_set(long, lambda m: f"Δ {metric_header(m)}", rows["dataset"].iloc[0])
    title = f"{title}: each test image minus {labels.get(reference, reference)}"
    figure = _loss_grid(long, "delta", title, labels, order, kind="strip")
    for ax in figure.axes:
        ax.axhline(0, color="0.3", linewidth=0.8)
    return figure
