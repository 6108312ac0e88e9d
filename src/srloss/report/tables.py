"""The study's results tables: CSV, Markdown and LaTeX (booktabs) per (dataset, model, scale), each
cell the mean and 95% CI half-width over test images; the best healthy loss bold, † when its
paired Wilcoxon test against the runner-up is significant, ‡ when it is still worse than the
baseline; and the paired differences to ``evaluation.reference`` (``paired_table``).
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from srloss.metrics import metric_info
from srloss.report.load import (
    ARROW,
    BASELINE_LOSS,
    COUNTED,
    FORMAT,
    HEADERS,
    HEALTHY,
    VIEW,
    metric_bounds,
    summarise,
    trained_views,
)
from srloss.stats import paired_vs_reference, score


def results_table(view: pd.DataFrame, best: pd.DataFrame, metrics: list[str]) -> tuple[pd.DataFrame, dict]:
    """Numeric table (rows = loss) and, per metric, the marks of the best healthy trained loss:
    (tied best losses, significant against the runner-up, p-value, worse than the baseline)."""
    table = summarise(view.assign(model="-")).drop(columns=["dataset", "model", "scale"]).set_index("loss")
    trained = [loss for loss in table.index if not loss.endswith("(baseline)")]
    baselines = [loss for loss in table.index if loss not in trained]
    table = table.loc[trained + baselines]
    ranked = [loss for loss in trained if table.loc[loss, "status"] == HEALTHY]
    marks = {}
    for _, row in best.iterrows():
        m = row["metric"]
        # no bold "best" where the number of test images cannot make any difference significant
        if m in metrics and ranked and bool(row.get("can_reach_alpha", True)):
            marks[m] = _mark(table, ranked, baselines, m, row)
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
    low, high = metric_bounds(m)
    if math.isnan(ci):
        text = f"{mean:{fmt}}"
    elif mean - ci < low or mean + ci > high:  # the interval clipped to what the metric can take
        text = f"{mean:{fmt}} [{max(low, mean - ci):{fmt}}, {min(high, mean + ci):{fmt}}]"
    else:
        text = f"{mean:{fmt}} ± {ci:{fmt}}"
    if m in COUNTED and f"{m}_count" in row:
        text += f" ({int(row[f'{m}_count'])}/{int(row[f'{m}_of'])})"
    return text


def evidence_notes(best: pd.DataFrame, alpha: float) -> list[str]:
    """Under a table: where no best loss is significant, why, and how many images would be."""
    notes = []
    for _, row in best.iterrows():
        if row["significant"] or (pd.isna(row.get("runner_up")) and row["can_reach_alpha"]):
            continue
        name = metric_info(row["metric"])[0]
        if not row["can_reach_alpha"]:
            notes.append(
                f"{name}: no best named: with {int(row['n'])} test images the Wilcoxon test cannot reach "
                f"p < {alpha} (at least 6 are needed)"
            )
        else:
            needed = row["n_required"]
            amount = "no finite number" if not np.isfinite(needed) else f"about {int(needed)}"
            notes.append(
                f"{name}: {row['best']} vs {row['runner_up']} not significant (p = {row['p_value']:.3g}); "
                f"{amount} test images would be needed at the observed effect (80 % power)"
            )
    return notes


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


HTML_STYLE = (
    "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
    "th,td{border-bottom:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th:first-child,td:first-child,td:last-child{text-align:left}caption{text-align:left;padding:4px}</style>"
)


def html_page(body: str) -> str:
    """A standalone HTML page in the report's table style."""
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{HTML_STYLE}</head><body>{body}</body></html>\n"


def to_html_table(table: pd.DataFrame, marks: dict, metrics: list[str], caption: str, notes: list[str]) -> str:
    """The results table as a standalone HTML page (what the Snakemake report shows inline)."""
    header = ["Loss"] + [f"{metric_info(m)[0]} {ARROW[metric_info(m)[1]]}" for m in metrics] + ["Status"]
    rows = []
    for loss, row in table.iterrows():
        cells = [html.escape(str(loss))]
        cells += [_decorate(html.escape(_cell(row, m)), marks.get(m), loss, lambda t: f"<b>{t}</b>") for m in metrics]
        cells.append(html.escape(str(row["status"])))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return html_page(f"<table><caption>{html.escape(caption)}</caption>{head}{''.join(rows)}</table><ul>{items}</ul>")


def verdict_lines(best: pd.DataFrame, paired: pd.DataFrame, alpha: float) -> list[str]:
    """One sentence per (dataset, model, scale, metric): the best healthy loss, whether it beats
    the runner-up significantly, and whether it beats the reference (tables/paired.csv)."""
    lines = []
    for _, row in best.iterrows():
        name = metric_info(row["metric"])[0]
        where = f"{row['dataset']} / {row['model']} / x{int(row['scale'])}, {name}"
        if not bool(row.get("can_reach_alpha", True)):
            lines.append(f"{where}: no best named (too few test images for p < {alpha}).")
            continue
        text = f"{where}: best {row['best']}"
        if pd.notna(row.get("runner_up")):
            verdict = "significantly" if row["significant"] else "not significantly"
            text += f", {verdict} better than {row['runner_up']} (p = {row['p_value']:.3g})"
        versus = (
            paired[
                (paired["dataset"] == row["dataset"])
                & (paired["model"] == row["model"])
                & (paired["scale"] == row["scale"])
                & (paired["metric"] == row["metric"])
                & (paired["loss"] == row["best"])
            ]
            if not paired.empty
            else paired
        )
        if len(versus):
            ref = versus.iloc[0]
            beats = "beats" if ref["better"] else "does not significantly beat"
            text += f"; it {beats} {ref['reference']} (Holm p = {ref['p_holm']:.3g})"
        lines.append(text + ".")
    return lines


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


def paired_table(per_image: pd.DataFrame, reference: str, dirs: dict[str, str], alpha: float) -> pd.DataFrame:
    """Every healthy loss minus ``reference`` on the same images, per (dataset, model, scale).

    ``reference`` is ``baseline`` (the bicubic rows of the same dataset and scale) or a loss of
    the study (kept whatever its status: the comparison is still paired). Holm runs over the
    whole table (srloss.stats.paired_vs_reference).
    """
    frame = paired_rows(per_image, reference)
    return paired_vs_reference(frame, VIEW, dirs, reference, alpha) if not frame.empty else pd.DataFrame()


def paired_rows(per_image: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The rows paired comparisons use: each model's healthy trained runs and its reference
    (the bicubic rows of the same dataset and scale, renamed ``baseline``, or a loss)."""
    frames = []
    for dataset, model, scale in trained_views(per_image):
        view = per_image[(per_image["dataset"] == dataset) & (per_image["scale"] == scale)]
        base = view[view["loss"] == BASELINE_LOSS].assign(model=model, loss="baseline")
        own = view[view["model"] == model]
        own = own[((own["loss"] != BASELINE_LOSS) & (own["status"] == HEALTHY)) | (own["loss"] == reference)]
        frames += [own, base] if reference == "baseline" else [own]
    return pd.concat(frames) if frames else pd.DataFrame()
