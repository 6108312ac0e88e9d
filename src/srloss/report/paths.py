"""File names of a study's aggregated outputs, relative to ``results/<study>/``.

Shared by ``srloss.report`` (which writes them) and ``workflow/rules/aggregate.smk`` (which
declares them); kept free of heavy imports so the workflow parse stays fast.
"""

from __future__ import annotations


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
STUDY_TABLES = [
    "tables/summary_stats.csv",
    "tables/comparisons.csv",
    "tables/best.csv",
    "tables/per_image_long.csv",
    PAIRED_TABLE,
]
