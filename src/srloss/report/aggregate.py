"""Aggregate per-image metrics into the study's tables and figures (``aggregate``).

The parts: ``load`` (metrics, histories, summaries), ``tables`` (CSV, Markdown, LaTeX, paired
differences), ``figures`` (seaborn figures). Only healthy runs are ranked or named best.

The cost is linear in the grid: the paired tests of a view run as one batch (``stats``), a figure
shows a bounded number of losses per panel (``evaluation.figures``), and the long tables are
written a view at a time, never built whole.
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from srloss import provenance
from srloss.atomic import atomic_path, write_text
from srloss.errors import UserError
from srloss.evaluation.settings import FigureSettings
from srloss.metrics import column_metric, columns_of, find_column, hidden_columns, note_name, with_role
from srloss.report import selection
from srloss.report.figures import (
    _save,
    _style,
    first_measured,
    plot_grid,
    plot_metrics,
    plot_paired_deltas,
    plot_perception_distortion,
    plot_summary,
    plot_training_curves,
    use_study_losses,
)
from srloss.report.landing import Cell, cell_paragraphs, landing_rst
from srloss.report.load import (
    BASELINE_LOSS,
    GROUP,
    HEALTHY,
    VIEW,
    directions,
    excluded_column,
    excluded_count,
    healthy,
    load_histories,
    load_metrics,
    long_rows,
    metric_columns,
    missing_reasons,
    summarise,
    test_set_order,
    trained_views,
    view_rows,
)
from srloss.report.paths import (
    CURVES_STEM,
    LANDING,
    LONG_TABLE,
    PD_STEM,
    STALE_DIR,
    STUDY_TABLES,
    TUNING_STEM,
    TUNING_TABLE,
    VERDICT_STEM,
    grid_stem,
    metrics_figure_stem,
    paired_figure_stem,
    stale_outputs,
    study_outputs,
    table_stem,
)
from srloss.report.stats import best_losses, pairwise_tests, summary_stats
from srloss.report.tables import (
    _caption,
    evidence_notes,
    html_page,
    markdown_cells,
    merge_notes,
    paired_rows,
    paired_table,
    results_tables,
    table_csv,
    to_html_table,
    to_latex_table,
    to_markdown,
    to_markdown_table,
    verdict_lines,
)
from srloss.tuning import tuned_points

__all__ = [
    "aggregate",
    "summarise",
    "table_stem",
    "grid_stem",
    "metrics_figure_stem",
    "PD_STEM",
    "CURVES_STEM",
]


def clip_intervals(stats_long: pd.DataFrame) -> pd.DataFrame:
    """Confidence limits clipped to the range each metric can take (``Column.bounds``)."""
    if stats_long.empty:
        return stats_long
    bounds = stats_long["metric"].map({m: find_column(m).bounds for m in stats_long["metric"].unique()})
    low, high = bounds.map(lambda b: b[0]), bounds.map(lambda b: b[1])
    for column in ("ci_low", "seed_ci_low"):
        stats_long[column] = stats_long[column].where(stats_long[column].isna(), stats_long[column].clip(lower=low))
    for column in ("ci_high", "seed_ci_high"):
        stats_long[column] = stats_long[column].where(stats_long[column].isna(), stats_long[column].clip(upper=high))
    return stats_long


def _write_spine(
    per_image: pd.DataFrame, summary: pd.DataFrame, config: dict, out: dict, reasons: dict, figures: FigureSettings
) -> None:
    """The files every study has: per-image and summary tables, the overview figure, provenance."""
    metrics = metric_columns(per_image)
    with atomic_path(out["per_image"]) as tmp:
        per_image.drop(columns=["run_dir", "eval_dir"]).to_csv(tmp, index=False)
    with atomic_path(out["summary_csv"]) as tmp:
        summary.to_csv(tmp, index=False)
    base_cols = GROUP + list(metrics) + ["n_images", "n_seeds", "status"]
    notes = "".join(f"\n- {k} missing: {v}" for k, v in reasons.items())
    write_text(
        out["summary_md"],
        f"# Study `{config['study']}`: mean over test images and seeds\n\n"
        + to_markdown(
            summary[[c for c in base_cols if c in summary]],
            missing={c for k in reasons for c in columns_of(k)},
        )
        + notes
        + "\n",
    )
    plot_summary(per_image, out["figure"], figures.losses)
    write_text(
        out["provenance"], json.dumps({"config": config, "provenance": provenance.collect()}, indent=2, sort_keys=True)
    )


def _view_notes(table: pd.DataFrame, reasons: dict, shown: list[str]) -> list[str]:
    """Notes under one results table: missing metrics, runs not ranked and why, excluded images."""
    notes = [f"{k}: missing ({v})" for k, v in reasons.items() if set(columns_of(k)) & set(shown)]
    unranked = [f"{loss} ({status})" for loss, status in table["status"].items() if status not in (HEALTHY, "baseline")]
    if unranked:
        notes.append(f"not ranked (run health): {', '.join(unranked)}")
    for hidden in hidden_columns(excluded_column(c) for c in table.columns):
        count = int(table[excluded_count(hidden)].max())
        if count > 0:
            excludes = find_column(hidden).excludes
            notes.append(f"{column_metric(hidden).title}: {count} test image(s) {excludes} are excluded")
    return notes


def _write_view(per_image: pd.DataFrame, best: pd.DataFrame, view_key: tuple, ctx: dict) -> Cell:
    """One (dataset, model, scale): its results table (CSV, Markdown, HTML, LaTeX; one column group
    per test set) and the comparison grid of its own test split."""
    dataset, model, scale = view_key
    root, reasons, alpha = ctx["root"], ctx["reasons"], ctx["alpha"]
    view = view_rows(per_image, dataset, model, scale)
    shown = [m for m in ctx["metrics"] if find_column(m).tabled]
    view_best = best[(best["dataset"] == dataset) & (best["model"] == model) & (best["scale"] == scale)]
    groups = results_tables(view, view_best, shown)
    counts = {t: int(view.loc[view["test_set"] == t, "image"].nunique()) for t, _, _ in groups}
    caption = _caption(dataset, model, scale, counts, alpha, shown)
    shown_best = view_best[view_best["metric"].isin(shown)]
    notes = merge_notes(
        {
            t: _view_notes(table, reasons, shown)
            + evidence_notes(shown_best[shown_best["test_set"] == t], alpha)
            + selection.selection_notes(ctx["tuning"], dataset, model, scale)
            for t, table, _ in groups
        }
    )
    stem = root / table_stem(dataset, model, scale)
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        table_csv(groups).to_csv(tmp, index=False)
    write_text(stem.with_suffix(".md"), to_markdown_table(groups, shown, caption, notes))
    write_text(stem.with_suffix(".html"), to_html_table(groups, shown, caption, notes))
    label = f"tab:{dataset}-{model}-x{scale}"
    write_text(stem.with_suffix(".tex"), to_latex_table(groups, shown, caption, label, notes))
    own = view[view["test_set"] == test_set_order(view, dataset)[0]]
    figures = ctx["figures"]
    grid = plot_grid(own, f"{dataset} / {model} / x{scale}", figures.losses)
    _save(grid, root, grid_stem(dataset, model, scale), figures.pdf)
    header, rows = markdown_cells(groups, shown)
    return Cell(f"{dataset} / {model} / x{scale}", "", header, rows, caption, notes)


def _write_verdict(best: pd.DataFrame, paired: pd.DataFrame, config: dict, ctx: dict, tables: list[Cell]) -> None:
    """The study's conclusions: one paragraph per (dataset, model, scale) cell, then one line per
    metric (Markdown and HTML), and the report's front page (``landing.landing_rst``: the
    paragraphs, each cell's table inline, the figure guide, the conventions)."""
    alpha = ctx["alpha"]
    lines = verdict_lines(best, paired, alpha) or ["No trained run is healthy: no loss can be ranked."]
    for metric, reason in ctx["reasons"].items():  # a metric asked for but not measured says so here too
        lines.append(f"{note_name(metric)}: not measured: {reason}")
    budget = pd.read_csv(ctx["budget_ranking"]) if ctx.get("budget_ranking") else None
    paragraphs = cell_paragraphs(best, paired, alpha, budget)
    title = f"Study {config['study']}: which loss is best (healthy runs only; reference {ctx['reference']})"
    stem = ctx["root"] / VERDICT_STEM
    text = "".join(f"## {cell}\n\n{paragraph}\n\n" for cell, paragraph in paragraphs)
    details = "".join(f"- {line}\n" for line in lines)
    write_text(stem.with_suffix(".md"), f"# {title}\n\n{text}## Every metric\n\n{details}")
    blocks = "".join(f"<h4>{html.escape(c)}</h4><p>{html.escape(p)}</p>" for c, p in paragraphs)
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    write_text(
        stem.with_suffix(".html"),
        html_page(f"<h3>{html.escape(title)}</h3>{blocks}<h4>Every metric</h4><ul>{items}</ul>"),
    )
    by_title = dict(paragraphs)
    cells = [replace(t, paragraph=by_title.get(t.title, "")) for t in tables]
    cells += [Cell(c, p) for c, p in paragraphs if c not in {t.title for t in tables}]  # other test sets
    runs = best.groupby(["dataset", "model", "scale"]).ngroups if not best.empty else 0
    intro = (
        f"{runs} (dataset, model, scale) cell(s); per cell the best loss among healthy runs on each metric, "
        "tested against the runner-up across seeds and images (paired t over seeds, Wilcoxon over images, "
        f"the larger p Holm-adjusted over the study's {len(best)} claims, α = {alpha}; never with one seed) and "
        f"against {ctx['reference']}. Tables: mean [95 % CI] over test images; bold = best, "
        "† = significantly better than the runner-up."
    )
    if not paragraphs:
        intro = lines[0]
    description = Path(ctx["description"]).read_text() if ctx.get("description") else ""
    write_text(ctx["root"] / LANDING, landing_rst(title, intro, cells, description))


def _write_study_figures(per_image: pd.DataFrame, summary: pd.DataFrame, ctx: dict) -> None:
    """Metric plots per (dataset, model), the perception-distortion plane, training curves."""
    root, metrics, reasons, figures = ctx["root"], ctx["metrics"], ctx["reasons"], ctx["figures"]
    limit, pdf = figures.losses, figures.pdf
    for dataset, model in sorted({(d, m) for d, m, _ in trained_views(per_image)}):
        view = pd.concat([view_rows(per_image, dataset, model, s) for s in sorted(per_image["scale"].unique())])
        title = f"{dataset} / {model}: mean and 95% CI over test images"
        _save(plot_metrics(view, metrics, title, limit), root, metrics_figure_stem(dataset, model), pdf)
    reference = ctx["reference"]
    rows = paired_rows(per_image, reference)
    for dataset, model in sorted({(d, m) for d, m, _ in trained_views(per_image)}):
        own = rows[(rows["dataset"] == dataset) & (rows["model"] == model)] if not rows.empty else rows
        health = per_image[(per_image["dataset"] == dataset) & (per_image["model"] == model)]
        figure = plot_paired_deltas(own, reference, metrics, f"{dataset} / {model}", health, limit)
        _save(figure, root, paired_figure_stem(dataset, model), pdf)
    perception = first_measured(summary, "perception")
    why = "\n".join(v for k, v in reasons.items() if with_role(columns_of(k), "perception"))  # "": not configured
    _save(plot_perception_distortion(summary, perception, why, per_image, limit), root, PD_STEM, pdf)
    _save(plot_training_curves(load_histories(per_image), per_image, limit), root, CURVES_STEM, pdf)


def _write_long(per_image: pd.DataFrame, path: Path) -> None:
    """tables/per_image_long.csv (one row per run, image and metric), written a view at a time:
    the long table is (metrics) times the per-image one, never held whole."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        header = True
        for _, view in per_image.groupby(["dataset", "model", "scale"], sort=False, observed=True):
            long_rows(view, per_image).to_csv(f, index=False, header=header)
            header = False
        if header:  # no rows: the header alone
            long_rows(per_image, per_image).to_csv(f, index=False)


def _select_tuned(per_image: pd.DataFrame, config: dict, val_paths: list, root: Path | None):
    """With tuned losses (``losses.<name>.tune``): each cell's grid point selected on the validation
    split (``srloss.report.selection``), tables/tuning.csv, and ``per_image`` reduced to the selected
    points under their losses' names; else ``per_image`` as it is and no selection."""
    points = tuned_points(config.get("losses", {}))
    if not points:
        return per_image, None
    if not val_paths:
        raise UserError(
            f"aggregate: losses {', '.join(sorted({p['loss'] for p in points.values()}))} are tuned "
            "(losses.<name>.tune) but no validation metrics were given (--val-metrics)"
        )
    table = selection.select(selection.load_validation(val_paths), points)
    if root is not None:
        with atomic_path(root / TUNING_TABLE) as tmp:
            table.to_csv(tmp, index=False)
    return selection.apply_selection(per_image, table, points), table


def aggregate(
    metric_paths: list[str | Path], config: dict, out: dict[str, str | Path], val_paths: list | None = None
) -> pd.DataFrame:
    """Write every table and figure of the study.

    ``out`` names the spine's files (per_image, summary_csv, summary_md, figure, provenance) and
    ``root`` (results/<study>), under which the files named by the ``*_stem`` functions and
    ``STUDY_TABLES`` are written. Only healthy runs (``healthy``) are ranked or named best.
    ``val_paths``: the validation metrics of the tuned losses' grid points (``_select_tuned``).
    """
    every_point = load_metrics(metric_paths)
    root = Path(out["root"]) if "root" in out else None
    per_image, tuned = _select_tuned(every_point, config, val_paths or [], root)
    summary = summarise(per_image)
    reasons = missing_reasons(per_image)
    figures = FigureSettings.from_dict(config.get("evaluation", {}).get("figures"))
    _style()
    use_study_losses(per_image["loss"])  # a loss keeps its colour in every figure
    _write_spine(per_image, summary, config, out, reasons, figures)
    if "root" not in out:
        return summary
    metrics = metric_columns(per_image)
    ctx = {
        "root": Path(out["root"]),
        "metrics": metrics,
        "reasons": reasons,
        "alpha": config.get("evaluation", {}).get("alpha", 0.05),
        "reference": config.get("evaluation", {}).get("reference", "baseline"),
        "description": out.get("description"),
        "budget_ranking": out.get("budget_ranking"),  # with evaluation.steps: budget_ranking.csv
        "figures": figures,
        "tuning": tuned,  # the tuned losses' selection (tables/tuning.csv), or None
    }
    ranked = healthy(per_image[per_image["loss"] != BASELINE_LOSS])
    dirs = directions(metrics)
    best = best_losses(ranked, VIEW, dirs, ctx["alpha"])
    tests = pairwise_tests(ranked, VIEW, dirs)
    stats_long = clip_intervals(summary_stats(per_image, GROUP, metrics))
    paired = paired_table(per_image, ctx["reference"], dirs, ctx["alpha"])
    for name, frame in zip(STUDY_TABLES, [stats_long, tests, best, per_image, paired]):
        if name == LONG_TABLE:
            _write_long(frame, ctx["root"] / name)
            continue
        with atomic_path(ctx["root"] / name) as tmp:
            frame.to_csv(tmp, index=False)
    tables = [_write_view(per_image, best, view_key, ctx) for view_key in trained_views(per_image)]
    _write_verdict(best, paired, config, ctx, tables)
    _write_study_figures(per_image, summary, ctx)
    if tuned is not None:
        _save(selection.plot_tuning(tuned, every_point), ctx["root"], TUNING_STEM, figures.pdf)
    budget = bool(config.get("evaluation", {}).get("steps"))
    expected = study_outputs(trained_views(per_image), budget, figures.pdf, tuned=tuned is not None)
    set_aside_stale(ctx["root"], expected)
    return summary


def set_aside_stale(root: Path, expected: set[str]) -> list[Path]:
    """Move the tables and figures the study no longer writes (``paths.stale_outputs``: e.g. of a
    model removed from the config) to ``<root>/stale/``, with a note saying why, so that nothing
    beside the current outputs can pass for one of them; nothing is deleted."""
    moved = []
    for path in stale_outputs(root, expected):
        target = root / STALE_DIR / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        moved.append(target)
    if moved:
        note = root / STALE_DIR / "README.md"
        listed = "".join(f"- {p.relative_to(root / STALE_DIR)}\n" for p in moved)
        earlier = note.read_text() if note.exists() else "# Outputs that no longer belong to the study\n\n"
        write_text(
            note,
            earlier + f"Moved here by the aggregate job of {time.strftime('%Y-%m-%d %H:%M:%S')}: the study's "
            "current config does not produce them (a model, dataset or scale removed, budget curves off). "
            "Delete them when you no longer need them.\n\n" + listed + "\n",
        )
    return moved
