"""Aggregate per-image metrics into the study's tables and figures.

Tables (``tables/``): one per trained model x scale (rows = loss, plus the untrained baseline
as a reference row; columns = metrics) in CSV, Markdown and LaTeX (booktabs), each cell the mean
and 95% CI half-width over test images, the best trained loss per column in bold and marked
with a dagger when the paired Wilcoxon test against the runner-up is significant
(``srloss.stats``). Also: a wide and a long (tidy) CSV of every per-image value, summary
statistics across images and seeds, every pairwise test, the best loss per metric.

Figures (``figures/``, PNG and PDF, one seaborn style): metric point plots with CIs faceted by
scale (per model), the perception-distortion plane, training curves, visual comparison grids.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from srloss import provenance  # noqa: E402
from srloss.atomic import atomic_path, write_text  # noqa: E402
from srloss.metrics import METRIC_INFO, metric_info  # noqa: E402
from srloss.outputs import CURVES_STEM, PD_STEM, STUDY_TABLES, grid_stem, metrics_figure_stem, table_stem  # noqa: E402
from srloss.stats import best_losses, describe, paired_vs_reference, pairwise_tests, score, summary_stats  # noqa: E402
from srloss.weights import loss_display_name  # noqa: E402

GROUP = ["dataset", "model", "loss", "scale"]
VIEW = ["dataset", "model", "scale"]
BASELINE_LOSS = "none"
# Only runs of this health status (srloss.health) may be bolded or named best.
HEALTHY = "completed"
# Columns that are metrics but not shown in tables and plots (bookkeeping for FFR).
HIDDEN = {"gt_face"}
ARROW = {"max": "↑", "min": "↓", "zero": "→0"}
FORMAT = {
    "psnr_rgb": ".2f",
    "psnr_y": ".2f",
    "ssim_y": ".4f",
    "mse": ".2f",
    "sharpness_diff": ".3f",
    "ffr": ".3f",
    "ffr_no_face": ".3f",
    "ffr_mismatch": ".3f",
}
HEADERS = {k: v[0] for k, v in METRIC_INFO.items()}
# Face-recognition failure indicators: the tables also give their counts (failures / faces).
COUNTED = ("ffr", "ffr_no_face", "ffr_mismatch")


# --- loading and summarising ------------------------------------------------------------------


def run_label(run_dir: Path, loss: str) -> str:
    """The loss as every output names it: marked "[random backbone]" when the run's loss used a
    randomly initialised feature network (not the published loss; ``weights.loss_display_name``)."""
    record = run_dir / "run.json"
    if loss == BASELINE_LOSS or not record.exists():
        return loss
    return loss_display_name(loss, json.loads(record.read_text())["spec"].get("terms", []))


def load_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-run metric CSVs into one long table, losses labelled as ``run_label`` says."""
    if not paths:
        raise ValueError("aggregate: no metrics files given")
    frames = []
    for p in paths:
        frame = pd.read_csv(p)
        frame["run_dir"] = str(Path(p).parent)
        if len(frame):
            frame["loss"] = run_label(Path(p).parent, str(frame["loss"].iloc[0]))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    if "missing" in table:
        table["missing"] = table["missing"].fillna("").astype(str)
    return table


def metric_columns(per_image: pd.DataFrame) -> list[str]:
    """Metric columns present, in catalogue order (random-backbone LPIPS after the real one)."""
    order = list(METRIC_INFO)
    present = [c for c in per_image.columns if metric_info(c) and c not in HIDDEN]
    return sorted(present, key=lambda c: (order.index(c.replace("_random_backbone", "")), c))


def directions(columns: list[str]) -> dict[str, str]:
    return {c: metric_info(c)[1] for c in columns}


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% CI half-width of every metric per (dataset, model, loss, scale), over test
    images (each averaged over seeds); plus counts and the runs' status."""
    metrics = metric_columns(per_image)
    rows = []
    for key, block in per_image.groupby(GROUP, sort=True):
        row = dict(zip(GROUP, key))
        for m in metrics:
            d = describe(block.groupby("image")[m].mean())
            row[m] = d["mean"]
            row[f"{m}_ci95"] = (d["ci_high"] - d["mean"]) if d["n"] > 1 else math.nan
            if m in COUNTED:  # over every (image, seed) with a ground-truth face
                row[f"{m}_count"] = int(block[m].sum(skipna=True))
                row[f"{m}_of"] = int(block[m].notna().sum())
        row["n_images"] = block["image"].nunique()
        row["n_seeds"] = block["seed"].nunique()
        row["status"] = ", ".join(sorted(set(map(str, block["status"]))))
        if "gt_face" in block:
            row["n_images_without_face"] = int((block.groupby("image")["gt_face"].max() == 0).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def tidy(per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, image, metric): the long format for one's own analysis."""
    ids = [c for c in ["study", *GROUP, "seed", "image", "status"] if c in per_image]
    long = per_image.melt(id_vars=ids, value_vars=metric_columns(per_image), var_name="metric", value_name="value")
    return long.dropna(subset=["value"]).reset_index(drop=True)


def missing_reasons(per_image: pd.DataFrame) -> dict[str, str]:
    """metric -> reason it is missing, from the per-image ``missing`` column (JSON objects)."""
    reasons = {}
    for note in per_image.get("missing", pd.Series(dtype=str)).dropna().unique():
        if str(note).strip():
            reasons.update(json.loads(note))
    return reasons


# --- tables -----------------------------------------------------------------------------------


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


def results_table(view: pd.DataFrame, best: pd.DataFrame, metrics: list[str]) -> tuple[pd.DataFrame, dict]:
    """Numeric table (rows = loss) and, per metric, the marks of the best healthy trained loss:
    (tied best losses, significant against the runner-up, p-value, worse than the baseline)."""
    table = summarise(view.assign(model="-")).drop(columns=["dataset", "model", "scale"]).set_index("loss")
    trained = [loss for loss in table.index if not loss.endswith("(baseline)")]
    baselines = [loss for loss in table.index if loss not in trained]
    table = table.loc[trained + baselines]
    healthy = [loss for loss in trained if table.loc[loss, "status"] == HEALTHY]
    marks = {}
    for _, row in best.iterrows():
        m = row["metric"]
        if m in metrics and healthy:
            marks[m] = _mark(table, healthy, baselines, m, row)
    return table, marks


def _mark(table: pd.DataFrame, healthy: list[str], baselines: list[str], m: str, row: pd.Series) -> tuple:
    """(bold losses, significant, p, below baseline): ties among healthy runs share the bold;
    ``below baseline`` is True when a baseline scores better than the best healthy run."""
    scores = score(table.loc[healthy, m], row["direction"])
    top = np.nanmax(scores)
    tied = {loss for loss, v in zip(healthy, scores) if np.isclose(v, top, rtol=0, atol=1e-12)}
    base = score(table.loc[baselines, m], row["direction"]) if baselines else np.array([])
    below = bool(base.size and np.nanmax(base) > top + 1e-12)
    return tied, bool(row["significant"]) and len(tied) == 1, row["p_value"], below


def _decorate(text: str, mark: tuple | None, loss: str, bold) -> str:
    """Bold the best healthy loss; † significant vs the runner-up; ‡ worse than the baseline."""
    if mark is None or loss not in mark[0]:
        return text
    return bold(text) + ("†" if mark[1] else "") + ("‡" if mark[3] else "")


def _cell(row: pd.Series, m: str) -> str:
    mean, ci, fmt = row[m], row[f"{m}_ci95"], FORMAT.get(m, ".4f")
    if m in COUNTED and f"{m}_of" in row and row[f"{m}_of"] == 0:
        return "no faces"
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "missing"
    text = f"{mean:{fmt}}" + ("" if math.isnan(ci) else f" ± {ci:{fmt}}")
    if m in COUNTED and f"{m}_count" in row:
        text += f" ({int(row[f'{m}_count'])}/{int(row[f'{m}_of'])})"
    return text


def _caption(dataset: str, model: str, scale: int, n_images: int, alpha: float) -> str:
    return (
        f"Dataset {dataset}, model {model}, x{scale}: mean ± 95% CI half-width (Student t) over "
        f"{n_images} test image(s), each averaged over seeds; FFR columns: rate (failures/faces over "
        "images × seeds). Bold: best trained loss per column among runs with status "
        f"{HEALTHY} (diverged, runaway, stalled or untrained runs are never ranked); "
        "‡: that loss is still worse than the baseline; "
        f"†: better than the runner-up with p < {alpha} (two-sided paired Wilcoxon signed-rank test). "
        "↑ higher is better, ↓ lower is better, →0 closer to zero is better. SR output rounded to "
        "uint8; border = scale pixels cropped; Y = BT.601 luma (MATLAB rgb2ycbcr)."
    )


def to_markdown_table(table: pd.DataFrame, marks: dict, metrics: list[str], caption: str, notes: list[str]) -> str:
    header = ["Loss"] + [f"{metric_info(m)[0]} {ARROW[metric_info(m)[1]]}" for m in metrics] + ["Status"]
    lines = [caption, "", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for loss, row in table.iterrows():
        cells = [str(loss)]
        for m in metrics:
            cells.append(_decorate(_cell(row, m), marks.get(m), loss, lambda t: f"**{t}**"))
        cells.append(str(row["status"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(a, b)
    return (
        text.replace("±", r"$\pm$")
        .replace("↑", r"$\uparrow$")
        .replace("↓", r"$\downarrow$")
        .replace("→", r"$\to$")
        .replace("†", r"$^\dagger$")
        .replace("‡", r"$^\ddagger$")
        .replace("<", r"$<$")
        .replace(">", r"$>$")
    )


def to_latex_table(
    table: pd.DataFrame, marks: dict, metrics: list[str], caption: str, label: str, notes: list[str] = ()
) -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    header = ["Loss"] + [f"{metric_info(m)[0]} {ARROW[metric_info(m)[1]]}" for m in metrics] + ["Status"]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{_tex(caption)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "c" * len(metrics) + "l}",
        r"\toprule",
        " & ".join(_tex(h) for h in header) + r" \\",
        r"\midrule",
    ]
    for loss, row in table.iterrows():
        cells = [_tex(str(loss))]
        for m in metrics:
            text = _decorate(_tex(_cell(row, m)), marks.get(m), loss, lambda t: rf"\textbf{{{t}}}")
            cells.append(text.replace("†", r"$^\dagger$").replace("‡", r"$^\ddagger$"))
        cells.append(_tex(str(row["status"])))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + _tex(note) for note in notes]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured Markdown table of a plain data frame (no extra dependency)."""

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = [HEADERS.get(c, c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


# --- figures ----------------------------------------------------------------------------------


def _style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")


def loss_palette(losses) -> dict[str, tuple]:
    """One colour per loss name, the same in every figure: baselines grey (listed first), the
    trained losses in name order on the colour-blind palette."""
    names = set(losses)
    baselines = sorted(n for n in names if n.endswith("(baseline)") or n == BASELINE_LOSS)
    trained = sorted(names - set(baselines))
    greys = [(0.45, 0.45, 0.45), (0.65, 0.65, 0.65), (0.3, 0.3, 0.3)]
    colours = {n: greys[i % len(greys)] for i, n in enumerate(baselines)}
    colours.update(zip(trained, sns.color_palette("colorblind", max(len(trained), 1))))
    return colours


def _save(fig: plt.Figure, root: Path, stem: str) -> None:
    """Write ``stem``.png and ``stem``.pdf atomically, then close the figure."""
    for ext in ("png", "pdf"):
        with atomic_path(root / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=130, bbox_inches="tight")
    plt.close(fig)


def _message_figure(text: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig


def _t_interval(values) -> tuple[float, float]:
    d = describe(values)
    return (d["ci_low"], d["ci_high"]) if d["n"] > 1 else (d["mean"], d["mean"])


def plot_metrics(view: pd.DataFrame, metrics: list[str], title: str) -> plt.Figure:
    """Point plot per metric (rows) and scale (columns): mean over images with 95% t-interval."""
    shown = [m for m in metrics if view[m].notna().any()]
    if not shown:
        return _message_figure(f"{title}: no metric values")
    per_image = view.groupby(["loss", "scale", "image"])[shown].mean().reset_index()
    long = per_image.melt(id_vars=["loss", "scale", "image"], value_vars=shown, var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(lambda m: f"{metric_info(m)[0]} {ARROW[metric_info(m)[1]]}")
    palette = loss_palette(long["loss"])
    grid = sns.catplot(
        data=long,
        kind="point",
        x="loss",
        y="value",
        hue="loss",
        row="metric",
        col="scale",
        order=list(palette),
        hue_order=list(palette),
        palette=palette,
        sharey="row",
        errorbar=_t_interval,
        linestyle="none",
        capsize=0.2,
        height=2.4,
        aspect=1.6,
        legend=False,
    )
    grid.set_titles("{row_name} | x{col_name}", size=8)
    grid.set_axis_labels("", "")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=30)
    grid.figure.suptitle(title, y=1.0)
    return grid.figure


def plot_perception_distortion(summary: pd.DataFrame, lpips_col: str | None, reason: str) -> plt.Figure:
    """PSNR-Y against LPIPS, one point per (dataset, model, loss, scale), 95% CI error bars."""
    if lpips_col is None:
        return _message_figure(f"Perception-distortion plane not drawn: LPIPS is missing.\n{reason}")
    scales = sorted(summary["scale"].unique())
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 3.6), squeeze=False)
    summary = summary.copy()
    base = summary["loss"] == BASELINE_LOSS
    summary.loc[base, "loss"] = summary.loc[base, "model"] + " (baseline)"
    colors = loss_palette(summary["loss"])
    markers = dict(zip(sorted(summary["model"].unique()), "osD^vP*X"))
    for ax, scale in zip(axes[0], scales):
        for _, r in summary[summary["scale"] == scale].iterrows():
            ax.errorbar(
                r[lpips_col],
                r["psnr_y"],
                xerr=_nan0(r[f"{lpips_col}_ci95"]),
                yerr=_nan0(r["psnr_y_ci95"]),
                fmt=markers[r["model"]],
                color=colors[r["loss"]],
                capsize=2,
                ms=6,
                label=r["loss"] if r["loss"].endswith("(baseline)") else f"{r['model']} / {r['loss']}",
            )
        ax.set_title(f"x{scale}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.set_xlabel(f"{metric_info(lpips_col)[0]} ↓ (perception)")
        ax.set_ylabel("PSNR Y (dB) ↑ (distortion)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.suptitle("Perception-distortion plane (better: up and left)")
    fig.tight_layout()
    return fig


def _nan0(v: float) -> float:
    return 0.0 if v is None or math.isnan(v) else v


def load_histories(per_image: pd.DataFrame) -> pd.DataFrame:
    """Every trained run's history.csv, long: (run columns, step, quantity, value)."""
    frames = []
    runs = per_image[per_image["loss"] != BASELINE_LOSS][
        ["run_dir", "dataset", "model", "loss", "scale", "seed"]
    ].drop_duplicates()
    for _, run in runs.iterrows():
        path = Path(run["run_dir"]) / "history.csv"
        if not path.exists():
            continue
        hist = pd.read_csv(path)
        window = max(1, len(hist) // 50)
        quantities = [c for c in hist.columns if c != "step"]
        for q in quantities:
            values = pd.to_numeric(hist[q], errors="coerce")
            if q != "val_psnr_y":
                values = values.rolling(window, min_periods=1).mean()  # smooth per-step noise
            frames.append(
                pd.DataFrame(
                    {
                        "step": hist["step"],
                        "value": values,
                        "quantity": q,
                        **{k: run[k] for k in ["dataset", "model", "loss", "scale", "seed"]},
                    }
                )
            )
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).dropna(subset=["value"])


def plot_training_curves(hist: pd.DataFrame) -> plt.Figure:
    """Each loss term (unweighted, moving average over 2% of the steps) and validation PSNR-Y vs step."""
    if hist.empty:
        return _message_figure("No trained runs: no training curves.")
    hist = hist.copy()
    hist["run"] = hist["dataset"] + " / " + hist["model"] + " / x" + hist["scale"].astype(str)
    order = ["loss"] + sorted(q for q in hist["quantity"].unique() if q not in ("loss", "val_psnr_y")) + ["val_psnr_y"]
    order = [q for q in order if q in set(hist["quantity"])]
    palette = loss_palette(hist["loss"])
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
        errorbar=None,
        height=2.2,
        aspect=1.5,
        facet_kws={"sharey": False},
    )
    grid.set_titles("{row_name} | {col_name}", size=8)
    for (quantity, _), ax in grid.axes_dict.items():
        if quantity != "val_psnr_y" and (hist.loc[hist["quantity"] == quantity, "value"] > 0).all():
            ax.set_yscale("log")
    grid.figure.suptitle("Training: total loss, each term (unweighted), validation PSNR-Y (dB)", y=1.0)
    return grid.figure


def plot_grid(view: pd.DataFrame, title: str) -> plt.Figure:
    """Same crops of the first test images: ground truth, baseline(s), every loss (first seed)."""
    runs = view.sort_values("seed").drop_duplicates(["loss"])[["loss", "run_dir"]]
    trained = [(r.loss, r.run_dir) for r in runs.itertuples() if not r.loss.endswith("(baseline)")]
    baselines = [(r.loss, r.run_dir) for r in runs.itertuples() if r.loss.endswith("(baseline)")]
    columns = baselines + sorted(trained)
    crops = {}
    for loss, run_dir in columns:
        path = Path(run_dir) / "crops.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                crops[loss] = {k: z[k] for k in z.files}
    first = next(iter(crops.values()), {})
    images = sorted(k.split("__", 1)[1] for k in first if k.startswith("hr__"))
    if not images:
        return _message_figure(f"{title}: no crops (evaluation.crops.images is 0)")
    names = ["ground truth"] + [loss for loss, _ in columns if loss in crops]
    fig, axes = plt.subplots(
        len(images), len(names), figsize=(1.9 * len(names), 2.3 * len(images)), squeeze=False, layout="constrained"
    )
    psnr = view.groupby(["loss", "image"])["psnr_y"].mean() if "psnr_y" in view else None
    for i, image in enumerate(images):
        for j, name in enumerate(names):
            ax = axes[i][j]
            arr = first[f"hr__{image}"] if name == "ground truth" else crops[name][f"sr__{image}"]
            ax.imshow(np.transpose(arr, (1, 2, 0)), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
            if name != "ground truth" and psnr is not None and (name, image) in psnr.index:
                ax.set_xlabel(f"{psnr[(name, image)]:.2f} dB", fontsize=7)
            if j == 0:
                top, left, side = first[f"box__{image}"]
                ax.set_ylabel(f"{image}\n({top},{left}) {side}px", fontsize=7)
    fig.suptitle(f"{title} (PSNR-Y of the whole image under each crop)", fontsize=9)
    return fig


def plot_summary(per_image: pd.DataFrame, path: str | Path) -> None:
    """Bar chart of PSNR-Y and SSIM-Y per loss and model, one column per scale (95% CI over images)."""
    long = per_image.melt(
        id_vars=GROUP + ["image"], value_vars=["psnr_y", "ssim_y"], var_name="metric", value_name="value"
    )
    long["metric"] = long["metric"].map(HEADERS)
    _style()
    grid = sns.catplot(
        data=long,
        kind="bar",
        x="loss",
        y="value",
        hue="model",
        row="metric",
        col="scale",
        sharey="row",
        errorbar=("ci", 95),
        height=3,
        aspect=1.4,
    )
    grid.set_titles("{row_name} | x{col_name}")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=30)
    with atomic_path(path) as tmp:
        grid.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(grid.figure)


# --- the whole aggregation --------------------------------------------------------------------


def trained_views(per_image: pd.DataFrame) -> list[tuple[str, str, int]]:
    trained = per_image[per_image["loss"] != BASELINE_LOSS]
    return sorted(set(zip(trained["dataset"], trained["model"], trained["scale"].astype(int))))


def paired_table(per_image: pd.DataFrame, reference: str, dirs: dict[str, str], alpha: float) -> pd.DataFrame:
    """Every healthy loss minus ``reference`` on the same images, per (dataset, model, scale).

    ``reference`` is ``baseline`` (the bicubic rows of the same dataset and scale) or a loss of
    the study (kept whatever its status: the comparison is still paired). Holm runs over the
    whole table (srloss.stats.paired_vs_reference).
    """
    frames = []
    for dataset, model, scale in trained_views(per_image):
        view = per_image[(per_image["dataset"] == dataset) & (per_image["scale"] == scale)]
        base = view[view["loss"] == BASELINE_LOSS].assign(model=model, loss="baseline")
        own = view[view["model"] == model]
        own = own[((own["loss"] != BASELINE_LOSS) & (own["status"] == HEALTHY)) | (own["loss"] == reference)]
        frames += [own, base] if reference == "baseline" else [own]
    if not frames:
        return pd.DataFrame()
    return paired_vs_reference(pd.concat(frames), VIEW, dirs, reference, alpha)


def _write_spine(per_image: pd.DataFrame, summary: pd.DataFrame, config: dict, out: dict, reasons: dict) -> None:
    """The files every study has: per-image and summary tables, the overview figure, provenance."""
    metrics = metric_columns(per_image)
    with atomic_path(out["per_image"]) as tmp:
        per_image.drop(columns=["run_dir"]).to_csv(tmp, index=False)
    with atomic_path(out["summary_csv"]) as tmp:
        summary.to_csv(tmp, index=False)
    base_cols = GROUP + list(metrics) + ["n_images", "n_seeds", "status"]
    notes = "".join(f"\n- {k} missing: {v}" for k, v in reasons.items())
    write_text(
        out["summary_md"],
        f"# Study `{config['study']}`: mean over test images and seeds\n\n"
        + to_markdown(summary[[c for c in base_cols if c in summary]])
        + notes
        + "\n",
    )
    plot_summary(per_image, out["figure"])
    write_text(
        out["provenance"], json.dumps({"config": config, "provenance": provenance.collect()}, indent=2, sort_keys=True)
    )


def _view_notes(table: pd.DataFrame, reasons: dict, shown: list[str]) -> list[str]:
    """Notes under one results table: missing metrics, runs not ranked and why, faceless images."""
    notes = [f"{k}: missing ({v})" for k, v in reasons.items() if k in shown or k == "ffr"]
    unranked = [f"{loss} ({status})" for loss, status in table["status"].items() if status not in (HEALTHY, "baseline")]
    if unranked:
        notes.append(f"not ranked (run health): {', '.join(unranked)}")
    if "n_images_without_face" in table and table["n_images_without_face"].max() > 0:
        notes.append(
            f"FFR: {int(table['n_images_without_face'].max())} test image(s) without a detectable face "
            "in the ground truth are excluded"
        )
    return notes


def _write_view(per_image: pd.DataFrame, best: pd.DataFrame, view_key: tuple, ctx: dict) -> None:
    """One (dataset, model, scale): its results table (CSV, Markdown, LaTeX) and comparison grid."""
    dataset, model, scale = view_key
    root, reasons, alpha = ctx["root"], ctx["reasons"], ctx["alpha"]
    view = view_rows(per_image, dataset, model, scale)
    shown = [m for m in ctx["metrics"] if m not in ("face_distance",)]
    view_best = best[(best["dataset"] == dataset) & (best["model"] == model) & (best["scale"] == scale)]
    table, marks = results_table(view, view_best, shown)
    caption = _caption(dataset, model, scale, int(view["image"].nunique()), alpha)
    stem = root / table_stem(dataset, model, scale)
    notes = _view_notes(table, reasons, shown)
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        table.reset_index().to_csv(tmp, index=False)
    write_text(stem.with_suffix(".md"), to_markdown_table(table, marks, shown, caption, notes))
    label = f"tab:{dataset}-{model}-x{scale}"
    write_text(stem.with_suffix(".tex"), to_latex_table(table, marks, shown, caption, label, notes))
    _save(plot_grid(view, f"{dataset} / {model} / x{scale}"), root, grid_stem(dataset, model, scale))


def _write_study_figures(per_image: pd.DataFrame, summary: pd.DataFrame, ctx: dict) -> None:
    """Metric plots per (dataset, model), the perception-distortion plane, training curves."""
    root, metrics, reasons = ctx["root"], ctx["metrics"], ctx["reasons"]
    for dataset, model in sorted({(d, m) for d, m, _ in trained_views(per_image)}):
        view = pd.concat([view_rows(per_image, dataset, model, s) for s in sorted(per_image["scale"].unique())])
        title = f"{dataset} / {model}: mean and 95% CI over test images"
        _save(plot_metrics(view, metrics, title), root, metrics_figure_stem(dataset, model))
    lpips_cols = [m for m in metrics if m.startswith("lpips_") and summary[m].notna().any()]
    lpips_reason = "\n".join(v for k, v in reasons.items() if k.startswith("lpips")) or "not in evaluation.metrics"
    _save(plot_perception_distortion(summary, lpips_cols[0] if lpips_cols else None, lpips_reason), root, PD_STEM)
    _save(plot_training_curves(load_histories(per_image)), root, CURVES_STEM)


def aggregate(metric_paths: list[str | Path], config: dict, out: dict[str, str | Path]) -> pd.DataFrame:
    """Write every table and figure of the study.

    ``out`` names the spine's files (per_image, summary_csv, summary_md, figure, provenance) and
    ``root`` (results/<study>), under which the files named by the ``*_stem`` functions and
    ``STUDY_TABLES`` are written. Only healthy runs (``healthy``) are ranked or named best.
    """
    per_image = load_metrics(metric_paths)
    summary = summarise(per_image)
    reasons = missing_reasons(per_image)
    _style()
    _write_spine(per_image, summary, config, out, reasons)
    if "root" not in out:
        return summary
    metrics = metric_columns(per_image)
    ctx = {
        "root": Path(out["root"]),
        "metrics": metrics,
        "reasons": reasons,
        "alpha": config.get("evaluation", {}).get("alpha", 0.05),
    }
    ranked = healthy(per_image[per_image["loss"] != BASELINE_LOSS])
    dirs = directions(metrics)
    best = (
        best_losses(ranked, VIEW, dirs, ctx["alpha"]) if not ranked.empty else pd.DataFrame(columns=[*VIEW, "metric"])
    )
    tests = pairwise_tests(ranked, VIEW, dirs) if not ranked.empty else pd.DataFrame()
    stats_long = summary_stats(per_image, GROUP, metrics)
    paired = paired_table(per_image, config.get("evaluation", {}).get("reference", "baseline"), dirs, ctx["alpha"])
    for name, frame in zip(STUDY_TABLES, [stats_long, tests, best, tidy(per_image), paired]):
        with atomic_path(ctx["root"] / name) as tmp:
            frame.to_csv(tmp, index=False)
    for view_key in trained_views(per_image):
        _write_view(per_image, best, view_key, ctx)
    _write_study_figures(per_image, summary, ctx)
    return summary
