"""The study's results tables: CSV, Markdown and LaTeX (booktabs) per (dataset, model, scale), each
cell the mean and its 95% CI [low, high] over test images; the best healthy loss bold, † when it is
significantly better than the runner-up across seeds and images (``stats.best_losses``), ‡ when it
is still worse than the baseline; and the paired differences to ``evaluation.reference``
(``paired_table``).

A model measured on several test sets (``load.test_set_order``: the own test split first, then the
others by name) gets one column group per test set, ranked and marked separately:

* Markdown: metric headers prefixed ``<test set>: `` (e.g. ``set5: PSNR Y ... ↑``), no spanning header;
* HTML: a first header row of ``<th colspan=...>`` cells naming the test sets;
* LaTeX: ``\\multicolumn`` test-set headers with a ``\\cmidrule`` under each;
* CSV: one row per loss, each summary column prefixed ``<test set>/`` (e.g. ``set5/<metric>``,
  ``set5/n_images``), one unprefixed ``status`` column last.

One Status column closes every table. With a single test set every format is as it always was.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pandas as pd

from srloss.metrics import column_metric, find_column
from srloss.report.load import (
    BASELINE_LOSS,
    HEALTHY,
    VIEW,
    column_legend,
    summarise,
    table_header,
    test_set_order,
    trained_views,
)
from srloss.report.stats import ADVISED_SEEDS, paired_vs_reference, score, seeds_to_run


def results_table(view: pd.DataFrame, best: pd.DataFrame, metrics: list[str]) -> tuple[pd.DataFrame, dict]:
    """Numeric table (rows = loss) and, per metric, the marks of the best healthy trained loss:
    (tied best losses, significant against the runner-up, p-value, worse than the baseline)."""
    table = summarise(view.assign(model="-")).drop(columns=["dataset", "test_set", "model", "scale"])
    table = table.set_index("loss")
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


def results_tables(view: pd.DataFrame, best: pd.DataFrame, metrics: list[str]) -> list[tuple[str, pd.DataFrame, dict]]:
    """(test set, table, marks) per test set of one view (``results_table``), own test split first:
    bold, † and ‡ are decided within each test set, never across them."""
    dataset = str(view["dataset"].iloc[0])
    return [
        (t, *results_table(view[view["test_set"] == t], best[best["test_set"] == t], metrics))
        for t in test_set_order(view, dataset)
    ]


def _mark(table: pd.DataFrame, healthy: list[str], baselines: list[str], m: str, row: pd.Series) -> tuple:
    """(bold losses, significant, p, below baseline): ties among healthy runs share the bold;
    ``below baseline`` is True when a baseline scores better than the best healthy run."""
    scores = score(table.loc[healthy, m], row["direction"])
    top = np.nanmax(scores)
    tied = {loss for loss, v in zip(healthy, scores) if np.isclose(v, top, rtol=0, atol=1e-12)}
    base = score(table.loc[baselines, m], row["direction"]) if baselines else np.array([])
    below = bool(base.size and np.nanmax(base) > top + 1e-12)
    # † only on the loss best.csv tested: the table's top (mean over seeds of the healthy runs) can
    # differ from the test's best when a loss has an unhealthy seed left out of the test
    return tied, bool(row["significant"]) and tied == {row["best"]}, row["p_value"], below


def _decorate(text: str, mark: tuple | None, loss: str, bold) -> str:
    """Bold the best healthy loss; † significant vs the runner-up; ‡ worse than the baseline."""
    if mark is None or loss not in mark[0]:
        return text
    return bold(text) + ("†" if mark[1] else "") + ("‡" if mark[3] else "")


def _cell(row: pd.Series, m: str) -> str:
    column = find_column(m)
    mean, ci, fmt = row[m], row[f"{m}_ci95"], column.format
    if column.counted and f"{m}_of" in row and row[f"{m}_of"] == 0:
        return f"no {column.counted}"
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "missing"
    low, high = column.bounds
    if math.isnan(ci):
        text = f"{mean:{fmt}}"
    else:  # one notation in every table; the interval clipped to what the metric can take
        text = f"{mean:{fmt}} [{max(low, mean - ci):{fmt}}, {min(high, mean + ci):{fmt}}]"
    if column.counted and f"{m}_count" in row:
        text += f" ({int(row[f'{m}_count'])}/{int(row[f'{m}_of'])})"
    return text


def seed_shortfall(row: pd.Series) -> str | None:
    """Why a best-vs-runner-up row (``best.csv``) can claim no winner for want of seeds, with the
    seeds to run ("one seed: no winner can be claimed; run seeds: [0, 1, 2] (>= 3)"); None with
    two seeds or more, or without a runner-up."""
    n = row.get("n_seeds")
    if pd.isna(row.get("runner_up")) or n is None or pd.isna(n) or n >= 2:
        return None
    seeds = json.loads(row["seeds"]) if isinstance(row.get("seeds"), str) else []
    which = "one seed" if n == 1 else "no seed in which both losses completed"
    return f"{which}: no winner can be claimed; run seeds: {seeds_to_run(seeds)} (>= {ADVISED_SEEDS})"


def _amount(needed: float, noun: str) -> str:
    """ "about 12 test images", or "no finite number of ..." where the observed effect is zero."""
    return f"no finite number of {noun}" if not np.isfinite(needed) else f"about {int(needed)} {noun}"


def evidence_notes(best: pd.DataFrame, alpha: float) -> list[str]:
    """Under a table: where no best loss is significant, why, and how many images and seeds would be."""
    notes = []
    for _, row in best.iterrows():
        if row["significant"] or (pd.isna(row.get("runner_up")) and row["can_reach_alpha"]):
            continue
        name = find_column(row["metric"]).header
        if not row["can_reach_alpha"]:
            notes.append(
                f"{name}: no best named: with {int(row['n'])} test images the Wilcoxon test cannot reach "
                f"p < {alpha} (at least 6 are needed)"
            )
        elif short := seed_shortfall(row):
            notes.append(f"{name}: {row['best']} vs {row['runner_up']}: {short}")
        else:
            notes.append(
                f"{name}: {row['best']} vs {row['runner_up']} not significant (Holm p = {row['p_hier_holm']:.3g}; "
                f"best in {row['best_in_seeds']} seeds; paired t over seeds p = {row['p_seed']:.3g}, Wilcoxon over "
                f"images p = {row['p_value']:.3g}); {_amount(row['n_required'], 'test images')} would be needed at "
                f"the observed effect, and {_amount(row['n_seeds_required'], 'seeds')} (80 % power at α / the "
                "study's number of best-loss claims)"
            )
    return notes


def _caption(dataset: str, model: str, scale: int, n_images: dict[str, int], alpha: float, metrics: list[str]) -> str:
    """The table's caption; ``n_images`` maps each test set (table order) to its number of images,
    ``metrics`` are the table's columns (rates with counts say how they are counted)."""
    if list(n_images) == [dataset]:
        head = (
            f"Dataset {dataset}, model {model}, x{scale}: mean [95% CI] (Student t; clipped to the metric's "
            f"range) over {n_images[dataset]} test image(s), each averaged over seeds"
        )
    else:
        sets = ", ".join(f"{t} ({n} image(s))" for t, n in n_images.items())
        head = (
            f"Trained on {dataset}, model {model}, x{scale}; one column group per test set: {sets}. "
            "Mean [95% CI] (Student t; clipped to the metric's range) over the test set's images, each "
            "averaged over seeds; bold, † and ‡ are decided within each test set"
        )
    counted = {column_metric(m).title: find_column(m).counted for m in metrics if find_column(m).counted}
    rates = "".join(f"; {title} columns: rate (failures/{noun} over images × seeds)" for title, noun in counted.items())
    return (
        f"{head}{rates}. Bold: best trained loss per column among runs with status "
        f"{HEALTHY} (diverged, runaway, stalled or untrained runs are never ranked); "
        "‡: that loss is still worse than the baseline; "
        f"†: better than the runner-up over at least 2 seeds, by a paired t-test over seeds (each seed's mean "
        "over the test images) and a two-sided Wilcoxon signed-rank test over images (each averaged over seeds), "
        f"the larger p Holm-adjusted over every best-vs-runner-up claim of the study below {alpha} "
        "(tables/best.csv). "
        "↑ higher is better, ↓ lower is better, →0 closer to zero is better. SR output rounded to "
        "uint8; border = scale pixels cropped; Y = BT.601 luma (MATLAB rgb2ycbcr). "
        f"Columns: {column_legend(metrics)}."
    )


def merge_notes(per_test_set: dict[str, list[str]]) -> list[str]:
    """Notes under a table: those every test set shares as they are, the others prefixed with
    their test set ("b: PSNR ...: not significant ...")."""
    groups = list(per_test_set.values())
    if len(groups) == 1:
        return groups[0]
    common = [note for note in groups[0] if all(note in notes for notes in groups[1:])]
    return common + [f"{t}: {note}" for t, notes in per_test_set.items() for note in notes if note not in common]


Groups = list[tuple[str, pd.DataFrame, dict]]


def _loss_order(groups: Groups) -> list[str]:
    """Every loss of any test set: trained losses first, then baselines, in table order."""
    losses = list(dict.fromkeys(loss for _, table, _ in groups for loss in table.index))
    return [x for x in losses if not x.endswith("(baseline)")] + [x for x in losses if x.endswith("(baseline)")]


def _body(groups: Groups, metrics: list[str], escape, bold) -> list[list[str]]:
    """Cells of every row: loss, each test set's metric cells (marked), the status."""
    rows = []
    for loss in _loss_order(groups):
        cells, statuses = [escape(str(loss))], []
        for _, table, marks in groups:
            if loss not in table.index:
                cells += ["not evaluated"] * len(metrics)
                continue
            row = table.loc[loss]
            statuses.append(str(row["status"]))
            cells += [_decorate(escape(_cell(row, m)), marks.get(m), loss, bold) for m in metrics]
        rows.append(cells + [escape(", ".join(dict.fromkeys(statuses)))])
    return rows


def table_csv(groups: Groups) -> pd.DataFrame:
    """The numeric table: as ``results_table`` for one test set; for several, one row per loss
    with each column prefixed ``<test set>/`` and one ``status`` column last."""
    if len(groups) == 1:
        return groups[0][1].reset_index()
    parts = [table.drop(columns=["status"]).add_prefix(f"{t}/") for t, table, _ in groups]
    wide = pd.concat(parts, axis=1).reindex(_loss_order(groups))
    statuses = pd.concat([table["status"].astype(str) for _, table, _ in groups], axis=1)
    wide["status"] = statuses.apply(lambda r: ", ".join(dict.fromkeys(r.dropna())), axis=1)
    return wide.rename_axis("loss").reset_index()


def markdown_cells(groups: Groups, metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """The results table's header and rows as text, the best loss's cells in ``**bold**``; several
    test sets prefix their metric headers ``<test set>: ``."""
    prefixes = [f"{t}: " for t, _, _ in groups] if len(groups) > 1 else [""]
    header = ["Loss"] + [p + table_header(m) for p in prefixes for m in metrics] + ["Status"]
    return header, _body(groups, metrics, str, lambda t: f"**{t}**")


def to_markdown_table(groups: Groups, metrics: list[str], caption: str, notes: list[str]) -> str:
    """The results table in Markdown (``markdown_cells``), its caption above and notes below."""
    header, rows = markdown_cells(groups, metrics)
    body = pd.DataFrame(rows, columns=header)
    # the cells are finished text: no number parsing ("0.50" stays "0.50")
    lines = [caption, "", body.to_markdown(index=False, disable_numparse=True), ""]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


HTML_STYLE = (
    "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
    "th,td{border-bottom:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th:first-child,td:first-child,td:last-child{text-align:left}caption{text-align:left;padding:4px}</style>"
)


def html_page(body: str) -> str:
    """A standalone HTML page in the report's table style."""
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{HTML_STYLE}</head><body>{body}</body></html>\n"


def to_html_table(groups: Groups, metrics: list[str], caption: str, notes: list[str]) -> str:
    """The results table as a standalone HTML page (what the Snakemake report shows inline); several
    test sets get a first header row with one ``colspan`` cell each."""
    names = "".join(f"<th>{html.escape(table_header(m))}</th>" for m in metrics)
    if len(groups) == 1:
        head = f"<tr><th>Loss</th>{names}<th>Status</th></tr>"
    else:
        spans = "".join(
            f"<th colspan='{len(metrics)}' style='text-align:center'>{html.escape(t)}</th>" for t, _, _ in groups
        )
        head = f"<tr><th rowspan='2'>Loss</th>{spans}<th rowspan='2'>Status</th></tr><tr>{names * len(groups)}</tr>"
    body = _body(groups, metrics, html.escape, lambda t: f"<b>{t}</b>")
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cells in body)
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return html_page(f"<table><caption>{html.escape(caption)}</caption>{head}{rows}</table><ul>{items}</ul>")


def view_title(row: pd.Series) -> str:
    """ "demo / srcnn / x2" for the own test split, "demo → set5 / srcnn / x2" for another test set."""
    test_set = row.get("test_set", row["dataset"])
    trained = row["dataset"] if test_set == row["dataset"] else f"{row['dataset']} → {test_set}"
    return f"{trained} / {row['model']} / x{int(row['scale'])}"


def verdict_lines(best: pd.DataFrame, paired: pd.DataFrame, alpha: float) -> list[str]:
    """One sentence per (dataset, model, scale, test set, metric): the best healthy loss, whether it
    beats the runner-up significantly (in how many seeds it is best, the test, its Holm p; with
    fewer than two seeds: that no winner can be claimed and the seeds to run), and whether it beats
    the reference on the same test set (tables/paired.csv). The own test split comes first, then
    the other test sets by name."""
    lines = []
    if not best.empty and "test_set" in best:
        flagged = best.assign(_cross=best["test_set"] != best["dataset"])  # own test split first
        best = flagged.sort_values(["dataset", "model", "scale", "_cross", "test_set"], kind="stable")
    for _, row in best.iterrows():
        name = find_column(row["metric"]).header
        head = f"{view_title(row)}, {name}"
        if not bool(row.get("can_reach_alpha", True)):
            lines.append(f"{head}: no best named (too few test images for p < {alpha}).")
            continue
        text = f"{head}: best {row['best']}"
        if short := seed_shortfall(row):
            text += f" (highest mean; runner-up {row['runner_up']}); {short}"
        elif pd.notna(row.get("runner_up")):
            verdict = "significantly" if row["significant"] else "not significantly"
            text += (
                f", {verdict} better than {row['runner_up']} (best in {row['best_in_seeds']} seeds; "
                f"{row['method']}, Holm p = {row['p_hier_holm']:.3g})"
            )
        keys = [k for k in (*VIEW, "metric") if k in paired and k in row]
        versus = paired[(paired[keys] == row[keys]).all(axis=1) & (paired["loss"] == row["best"])] if keys else paired
        if len(versus):
            ref = versus.iloc[0]
            text += f"; {_versus_reference(ref, alpha)}"
        lines.append(text + ".")
    return lines


def _versus_reference(ref: pd.Series, alpha: float) -> str:
    """How the best loss compares with the reference (a tables/paired.csv row): significantly
    better, significantly worse (Holm p < alpha, the wrong way), or neither."""
    if ref["better"]:
        verdict = "it beats"
    elif ref["p_holm"] < alpha and ref["gain"] < 0:
        verdict = "it is significantly worse than"
    else:
        verdict = "it does not significantly differ from"
    return f"{verdict} {ref['reference']} (Holm p = {ref['p_holm']:.3g})"


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


def to_latex_table(groups: Groups, metrics: list[str], caption: str, label: str, notes: list[str] = ()) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); several test sets get a ``\\multicolumn``
    header each, with a ``\\cmidrule`` under it."""
    header = ["Loss"] + [_tex(table_header(m)) for _ in groups for m in metrics] + ["Status"]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{_tex(caption)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "c" * (len(metrics) * len(groups)) + "l}",
        r"\toprule",
    ]
    if len(groups) > 1:
        k = len(metrics)
        spans = [rf"\multicolumn{{{k}}}{{c}}{{{_tex(t)}}}" for t, _, _ in groups]
        lines.append(" & ".join(["", *spans, ""]) + r" \\")
        lines.append("".join(rf"\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}" for i in range(len(groups))))
    lines += [" & ".join(header) + r" \\", r"\midrule"]
    for cells in _body(groups, metrics, _tex, lambda t: rf"\textbf{{{t}}}"):
        cells = [c.replace("†", r"$^\dagger$").replace("‡", r"$^\ddagger$") for c in cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + _tex(note) for note in notes]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_markdown(table: pd.DataFrame, floatfmt: str = ".4f", missing: set[str] = frozenset()) -> str:
    """A Markdown table of a plain data frame (pandas through tabulate), metric columns under their
    headers. An empty cell reads "missing" in a column of ``missing`` (a metric asked for but not
    measured: the notes say why) and "n/a" elsewhere (nothing to measure, e.g. no interval from
    one image), never "nan"."""
    headers = {c: column.header for c in table.columns if (column := find_column(c))}
    text = table.astype(object).copy()
    for c in text.columns:
        empty = table[c].isna()
        if pd.api.types.is_float_dtype(table[c]):
            text[c] = table[c].map(lambda v: format(v, floatfmt))
        if empty.any():
            text[c] = text[c].where(~empty, "missing" if c.removesuffix("_ci95") in missing else "n/a")
    return text.rename(columns=headers).to_markdown(index=False, disable_numparse=True) + "\n"


def paired_table(per_image: pd.DataFrame, reference: str, dirs: dict[str, str], alpha: float) -> pd.DataFrame:
    """Every healthy loss minus ``reference`` on the same images, per (dataset, test set, model, scale).

    ``reference`` is ``baseline`` (the bicubic rows of the same dataset, test set and scale) or a loss of
    the study (kept whatever its status: the comparison is still paired). Holm runs over the
    whole table (srloss.report.stats.paired_vs_reference).
    """
    return paired_vs_reference(paired_rows(per_image, reference), VIEW, dirs, reference, alpha)


def paired_rows(per_image: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The rows paired comparisons use: each model's healthy trained runs and its reference
    (the bicubic rows of the same dataset and scale, renamed ``baseline``, or a loss). Every row
    keeps its ``test_set``: pairs are formed within a test set (``VIEW``), never across."""
    frames = []
    for dataset, model, scale in trained_views(per_image):
        view = per_image[(per_image["dataset"] == dataset) & (per_image["scale"] == scale)]
        base = view[view["loss"] == BASELINE_LOSS].assign(model=model, loss="baseline")
        own = view[view["model"] == model]
        own = own[((own["loss"] != BASELINE_LOSS) & (own["status"] == HEALTHY)) | (own["loss"] == reference)]
        frames += [own, base] if reference == "baseline" else [own]
    return pd.concat(frames) if frames else pd.DataFrame()
