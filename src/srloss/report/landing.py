"""The page the Snakemake report opens on: the verdict, one short paragraph per (dataset, model,
scale) cell, each followed by its results table inline, then what each figure shows and in which
order, then the study's conventions (``workflow/report/workflow.rst``).

Written by the aggregate job as reStructuredText (``paths.LANDING``); the Snakefile's ``report:``
directive points at it once it exists, so ``snakemake --report`` renders it as the report's front
page. The same paragraphs open ``tables/verdict.md`` and ``tables/verdict.html``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from srloss.metrics import find_column
from srloss.report.tables import seed_shortfall


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its menu entry, its file(s) under results/<study>/figures/, what to
    read from it, and its thumbnail in docs/figures/ (from a small real study)."""

    menu: str
    files: str
    read: str
    thumbnail: str


# The report's figures in the order its menu lists them (workflow/rules/aggregate.smk, budget.smk):
# the front page prints this guide, docs/evaluation.md's table of figures is generated from it.
FIGURES = [
    Figure(
        "Metrics",
        "<dataset>/metrics_<model>",
        "each metric (rows) at each scale (columns): the mean over test images with its 95 % "
        "t-interval per loss; which loss is ahead and whether the intervals overlap.",
        "metrics.png",
    ),
    Figure(
        "Paired differences",
        "<dataset>/paired_<model>",
        "each loss minus the reference, image by image (values averaged over seeds); a box away "
        "from zero is a difference that holds on most images.",
        "paired.png",
    ),
    Figure(
        "Perception-distortion",
        "perception_distortion",
        "distortion (PSNR-Y) against perception (LPIPS): no loss can be best on both (Blau and "
        "Michaeli 2018); which trade-off each loss makes.",
        "perception_distortion.png",
    ),
    Figure(
        "Training",
        "training_curves",
        "total loss, each term (unweighted) and validation PSNR-Y against the step; lines are "
        "means over seeds, bands their range: whether a run converged, diverged or stalled.",
        "training_curves.png",
    ),
    Figure(
        "Visual comparison",
        "<dataset>/grid_<model>_x<scale>",
        "the same crops for the ground truth, the baseline and every loss (first seed), each with "
        "its image's distortion value: what the numbers mean on real images.",
        "grid.png",
    ),
    Figure(
        "Overview",
        "psnr_ssim",
        "the overview metrics of every model and loss side by side (points with 95 % t-intervals, "
        "not bars: an axis from zero would hide differences of 0.1 dB).",
        "psnr_ssim.png",
    ),
    Figure(
        "Budget",
        "budget",
        "with evaluation.steps: each metric against the training step (a log axis when the budgets "
        "span two orders of magnitude), means over images and seeds: whether the ranking holds at "
        "every budget.",
        "budget.png",
    ),
    Figure(
        "Tuning",
        "tuning",
        "with losses.<name>.tune: per cell, every grid point's validation score (mean over seeds, bar: "
        "their SD; the selected point circled), and, where a term's weight was swept, the test split's "
        "distortion against perception over that weight: the trade-off the weight buys.",
        "tuning.png",
    ),
]


@dataclass
class Cell:
    """One (dataset, model, scale) of the study: its verdict paragraph and its results table."""

    title: str
    paragraph: str
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    notes: list[str] = field(default_factory=list)


def _name(metric: str) -> str:
    column = find_column(metric)
    return column.short if column is not None else metric


def _value(value: float, metric: str) -> str:
    column = find_column(metric)
    if column is None:
        return f"{value:.4g}"
    return f"{value:{column.format}} {column.unit}".rstrip()


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _adjusted(row: pd.Series) -> float:
    """A best-vs-runner-up claim's Holm-adjusted p: of the seed-and-image test (``p_hier_holm``)."""
    return float(row["p_hier_holm"] if "p_hier_holm" in row else row["p_holm"])


def cell_paragraph(rows: pd.DataFrame, paired: pd.DataFrame, alpha: float) -> str:
    """The verdict of one cell in a few sentences, from its ``best.csv`` rows (one per metric) and
    its ``paired.csv`` rows: which loss wins where the adjusted test says so, by how much and how
    sure; where no loss is significantly best; how the winners compare with the reference."""
    if rows.empty:
        return "No healthy trained run: no loss can be ranked."
    wins, alone, open_, unnamed, few_seeds = [], [], [], [], []
    for _, row in rows.iterrows():
        metric = row["metric"]
        if not bool(row.get("can_reach_alpha", True)):
            unnamed.append(f"{_name(metric)} ({int(row['n'])} images)")
        elif pd.isna(row.get("runner_up")):
            alone.append((row["best"], _name(metric)))
        elif short := seed_shortfall(row):
            few_seeds.append((_name(metric), short))
        elif bool(row["significant"]):
            gap = abs(row["best_mean"] - row["runner_up_mean"])
            wins.append(
                (
                    row["best"],
                    f"{_name(metric)} ({_value(row['best_mean'], metric)} vs {_value(row['runner_up_mean'], metric)}"
                    f" for {row['runner_up']}, a gap of {_value(gap, metric)}; best in {row['best_in_seeds']} seeds,"
                    f" Holm p = {_adjusted(row):.2g})",
                )
            )
        else:
            open_.append((metric, row))
    sentences = []
    for loss in dict.fromkeys(w for w, _ in wins):
        sentences.append(f"{loss} is significantly best on {_listing([t for w, t in wins if w == loss])}.")
    for loss in dict.fromkeys(w for w, _ in alone):
        sentences.append(f"{loss} is the only healthy loss on {_listing([t for w, t in alone if w == loss])}.")
    if open_:
        names = _listing([_name(m) for m, _ in open_])
        counts = pd.Series([str(r["best"]) for _, r in open_]).value_counts()
        leaders = counts.index[0]
        if len(counts) > 1:
            leaders = ", ".join(f"{loss} on {n}" for loss, n in counts.items()) + " of them"
        smallest = min(_adjusted(r) for _, r in open_)
        sentences.append(
            f"No loss is significantly best on {names} (highest mean: {leaders}; smallest Holm p = {smallest:.2g},"
            f" α = {alpha})."
        )
    if unnamed:
        sentences.append(f"Too few test images to name a best on {_listing(unnamed)}.")
    if few_seeds:  # the same reason for every metric of the cell: said once
        sentences.append(f"On {_listing([m for m, _ in few_seeds])}: {few_seeds[0][1]}.")
    sentences += _versus_reference(wins, rows, paired, alpha)
    return " ".join(sentences)


def _versus_reference(wins: list, rows: pd.DataFrame, paired: pd.DataFrame, alpha: float) -> list[str]:
    """One sentence per winning loss: the metrics on which it beats / trails the reference over
    images (with the seeds in which it is better), then which of its gains hold at the seed level."""
    if paired.empty or not wins:
        return []
    keys = [k for k in ("dataset", "test_set", "model", "scale") if k in paired and k in rows]
    first = rows.iloc[0]
    here = paired[(paired[keys] == first[keys]).all(axis=1)] if keys else paired
    out = []
    for loss in dict.fromkeys(w for w, _ in wins):
        mine = here[here["loss"] == loss]
        if mine.empty:
            continue
        won = mine[mine["better"].astype(bool)]
        better = [_with_seeds(r) for _, r in won.iterrows()]
        worse = [_name(r["metric"]) for _, r in mine.iterrows() if r["p_holm"] < alpha and r["gain"] < 0]
        reference = str(mine["reference"].iloc[0])
        parts = []
        if better:
            parts.append(f"beats {reference} on {_listing(better)}")
        if worse:
            parts.append(f"is worse than {reference} on {_listing(worse)}")
        if not parts:
            parts.append(f"does not significantly differ from {reference} on any metric")
        sentence = f"Against the reference, {loss} {' and '.join(parts)} (Holm-adjusted paired tests over images)"
        out.append(sentence + _seed_level_clause(won, reference) + ".")
    return out


def _with_seeds(row: pd.Series) -> str:
    """ "PSNR Y (better in 2/2 seeds)": a metric and the seeds in which the loss beats the reference."""
    seeds = row.get("better_in_seeds")
    return (
        f"{_name(row['metric'])} (better in {seeds} seeds)"
        if isinstance(seeds, str) and seeds
        else _name(row["metric"])
    )


def _seed_level_clause(won: pd.DataFrame, reference: str) -> str:
    """Which of the gains over the reference also hold across seeds (``better_across_seeds``: the
    larger of the image- and seed-level p, Holm-adjusted); nothing where fewer than 2 seeds ran."""
    if won.empty or "better_across_seeds" not in won or not (won["n_seeds"].fillna(0) >= 2).any():
        return ""
    held = [_name(m) for m in won.loc[won["better_across_seeds"].astype(bool), "metric"]]
    where = f"on {_listing(held)}" if held else "on none of them"
    return f"; across seeds too (paired t over seeds, Holm-adjusted) {where}"


def _steps(text: str) -> dict[int, str]:
    """``"1000:mse;5000:-"`` (a budget_ranking.csv cell) -> {1000: "mse", 5000: "-"}."""
    pairs = (item.split(":", 1) for item in str(text).split(";") if ":" in item)
    return {int(step): value for step, value in pairs}


def budget_sentence(rows: pd.DataFrame) -> str:
    """Whether the winners hold across training budgets, from one cell's ``budget_ranking.csv`` rows
    (one per metric; ``report.budget.budget_ranking``): per metric, the loss significantly best at
    every step, a best that changes significantly with the budget, or neither."""
    if rows.empty:
        return ""
    holds, changes, unclear = [], [], []
    for _, row in rows.iterrows():
        winners = _steps(row["significant_best"])
        if bool(row["best_changes"]):
            at = ", ".join(f"{loss} at step {step}" for step, loss in winners.items() if loss != "-")
            changes.append(f"{_name(row['metric'])} ({at})")
        elif winners and len(set(winners.values())) == 1 and "-" not in winners.values():
            holds.append((next(iter(winners.values())), _name(row["metric"])))
        else:
            unclear.append(_name(row["metric"]))
    steps = sorted({int(step) for text in rows["steps"].astype(str) for step in text.split(";") if step.isdigit()})
    parts = [
        f"{loss} is significantly best at every step on {_listing([m for w, m in holds if w == loss])}"
        for loss in dict.fromkeys(w for w, _ in holds)
    ]
    if changes:
        parts.append(f"the best changes significantly with the budget on {_listing(changes)}")
    if unclear:
        parts.append(f"no loss is significantly best at every step on {_listing(unclear)}")
    listed = ", ".join(map(str, steps))
    return f"Across training budgets (steps {listed}; paired t over seeds, Holm-adjusted): {'; '.join(parts)}."


def cell_paragraphs(
    best: pd.DataFrame, paired: pd.DataFrame, alpha: float, budget: pd.DataFrame | None = None
) -> list[tuple[str, str]]:
    """(title, paragraph) per (dataset, model, scale, test set) of ``best.csv``: own test split
    first; with ``budget`` (budget_ranking.csv, evaluation.steps) the own test split's paragraph
    ends with whether its winners hold across budgets (``budget_sentence``)."""
    if best.empty:
        return []
    flagged = best.assign(_cross=best["test_set"] != best["dataset"])
    out = []
    for (dataset, model, scale, cross, test_set), rows in flagged.groupby(
        ["dataset", "model", "scale", "_cross", "test_set"], sort=True
    ):
        where = dataset if test_set == dataset else f"{dataset} → {test_set}"
        paragraph = cell_paragraph(rows.drop(columns="_cross"), paired, alpha)
        if budget is not None and len(budget) and not cross:
            here = budget[(budget["dataset"] == dataset) & (budget["model"] == model) & (budget["scale"] == scale)]
            if sentence := budget_sentence(here):
                paragraph = f"{paragraph} {sentence}"
        out.append((f"{where} / {model} / x{int(scale)}", paragraph))
    return out


# --- reStructuredText --------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Plain text safe in reStructuredText (no emphasis, references or substitutions)."""
    for char in ("\\", "*", "`", "_", "|"):
        text = text.replace(char, "\\" + char)
    return text


def _cell_text(text: str) -> str:
    """A table cell: ``**bold**`` from the tables module kept, everything else escaped."""
    if text.startswith("**") and "**" in text[2:]:
        end = text.index("**", 2)
        return f"**{_escape(text[2:end])}**" + _escape(text[end + 2 :])
    return _escape(text) or ".."


def _heading(text: str, underline: str) -> str:
    return f"{text}\n{underline * max(len(text), 3)}\n"


def _list_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [header, *rows]:
        lines.append("   * - " + _cell_text(cells[0]))
        lines += [f"     - {_cell_text(c)}" for c in cells[1:]]
    return "\n".join(lines) + "\n"


def landing_rst(title: str, intro: str, cells: list[Cell], description: str) -> str:
    """The report's front page: ``title``, ``intro``, each cell's paragraph and table, the figure
    guide, then ``description`` (the static conventions text, itself Jinja-templated by Snakemake).

    Everything generated sits inside ``{% raw %}`` so that no result text is read as Jinja.
    """
    parts = [_heading(_escape(title), "="), _escape(intro) + "\n"]
    for cell in cells:
        parts.append(_heading(_escape(cell.title), "-"))
        parts.append(_escape(cell.paragraph) + "\n")
        if cell.header:
            parts.append(_escape(cell.caption) + "\n")
            parts.append(_list_table(cell.header, cell.rows))
            parts += [f"- {_escape(note)}" for note in cell.notes]
            parts.append("")
    parts.append(_heading("Figures, in the order of the menu", "-"))
    parts += [f"- **{_escape(f.menu)}** ({_escape(f.files)}.png): {_escape(f.read)}" for f in FIGURES]
    parts.append("")
    generated = "\n".join(parts)
    return "{% raw %}\n" + generated + "\n{% endraw %}\n" + _heading("Conventions", "-") + "\n" + description
