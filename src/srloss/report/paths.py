"""File names of a study's aggregated outputs, relative to ``results/<study>/``.

Shared by ``srloss.report`` (which writes them) and ``workflow/rules/aggregate.smk`` (which
declares them); kept free of heavy imports so the workflow parse stays fast.
"""

from __future__ import annotations

from pathlib import Path


def table_stem(dataset: str, model: str, scale: int) -> str:
    return f"tables/{dataset}/{model}_x{scale}"


def metrics_figure_stem(dataset: str, model: str) -> str:
    return f"figures/{dataset}/metrics_{model}"


def paired_figure_stem(dataset: str, model: str) -> str:
    return f"figures/{dataset}/paired_{model}"


def grid_stem(dataset: str, model: str, scale: int) -> str:
    return f"figures/{dataset}/grid_{model}_x{scale}"


PD_STEM, CURVES_STEM = "figures/perception_distortion", "figures/training_curves"
PAIRED_TABLE = "tables/paired.csv"
VERDICT_STEM = "tables/verdict"  # .md and .html: the study's conclusions, first in the report
LANDING = "report/front.rst"  # the report's front page (srloss.report.landing); Snakefile `report:`
LONG_TABLE = "tables/per_image_long.csv"  # one row per run, image and metric
STUDY_TABLES = ["tables/summary_stats.csv", "tables/comparisons.csv", "tables/best.csv", LONG_TABLE, PAIRED_TABLE]
SPINE = ["tables/per_image.csv", "tables/summary.csv", "tables/summary.md", "figures/psnr_ssim.png"]
PROVENANCE = "tables/provenance.json"
BUDGET_FILES = ["tables/budget.csv", "tables/budget_ranking.csv", "figures/budget.png", "figures/budget.pdf"]
TUNING_TABLE, TUNING_STEM = "tables/tuning.csv", "figures/tuning"  # losses.<name>.tune (srloss.report.selection)
STALE_DIR = "stale"  # where outputs that no longer belong to the study are moved (set_aside_stale)


def figure_formats(pdf: bool) -> tuple[str, ...]:
    """The file types of every figure: PNG, and PDF unless ``evaluation.figures.pdf`` is false."""
    return ("png", "pdf") if pdf else ("png",)


def study_outputs(views: list[tuple[str, str, int]], budget: bool, pdf: bool = True, tuned: bool = False) -> set[str]:
    """Every file the aggregate (and, with ``budget``, the budget) rule writes for a study whose
    trained (dataset, model, scale) views are ``views``, relative to ``results/<study>/``; the
    figures' PDFs with ``pdf`` (``evaluation.figures.pdf``); the tuning table and figure with ``tuned``."""
    pairs = sorted({(d, m) for d, m, _ in views})
    files = {*SPINE, PROVENANCE, *STUDY_TABLES, f"{VERDICT_STEM}.md", f"{VERDICT_STEM}.html", LANDING}
    files |= {f"{table_stem(d, m, s)}.{ext}" for d, m, s in views for ext in ("csv", "md", "tex", "html")}
    stems = [PD_STEM, CURVES_STEM, *(grid_stem(d, m, s) for d, m, s in views), *([TUNING_STEM] if tuned else [])]
    files |= {TUNING_TABLE} if tuned else set()
    stems += [f(d, m) for d, m in pairs for f in (metrics_figure_stem, paired_figure_stem)]
    files |= {f"{stem}.{ext}" for stem in stems for ext in figure_formats(pdf)}
    budget_files = {f for f in BUDGET_FILES if pdf or not f.endswith(".pdf")}
    return files | (budget_files if budget else set())


def stale_outputs(root: Path, expected: set[str]) -> list[Path]:
    """Files under ``root``'s tables/ and figures/ that the study no longer writes (a model or
    dataset removed from it, budget curves turned off), hidden temporary files aside."""
    found = [p for folder in ("tables", "figures") for p in sorted((root / folder).rglob("*")) if p.is_file()]
    return [p for p in found if not p.name.startswith(".") and p.relative_to(root).as_posix() not in expected]
