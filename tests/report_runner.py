"""Run ``srloss.report.aggregate`` on metrics files into a study folder (shared by the report tests)."""

from __future__ import annotations

from pathlib import Path

from srloss.report import aggregate as report


def aggregate_into(root: Path, paths: list[Path], figures: dict | None = None) -> Path:
    """Aggregate ``paths`` into ``root`` (tables/, figures/) as the workflow's aggregate rule would,
    with ``evaluation.figures`` set to ``figures`` (default: its defaults); ``root``."""
    out = {
        "per_image": root / "tables/per_image.csv",
        "summary_csv": root / "tables/summary.csv",
        "summary_md": root / "tables/summary.md",
        "figure": root / "figures/psnr_ssim.png",
        "provenance": root / "tables/provenance.json",
        "root": root,
    }
    report.aggregate(paths, {"study": "s", "evaluation": {"alpha": 0.05, "figures": figures or {}}}, out)
    return root
