"""Aggregate per-image metrics into tidy tables and seaborn figures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from srloss import provenance  # noqa: E402
from srloss.atomic import atomic_path, write_text  # noqa: E402

GROUP = ["dataset", "model", "loss", "scale"]
METRICS = ["psnr_rgb", "psnr_y", "ssim_y", "mse"]
# Column headers state the convention (see srloss.metrics).
HEADERS = {
    "psnr_rgb": "PSNR RGB (dB, border=scale)",
    "psnr_y": "PSNR Y (dB, BT.601, border=scale)",
    "ssim_y": "SSIM Y (Gaussian 11/1.5, border=scale)",
    "mse": "MSE (0-255, RGB)",
}


def load_metrics(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-run metric CSVs into one long table."""
    if not paths:
        raise ValueError("aggregate: no metrics files given")
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric per (dataset, model, loss, scale), over test images and seeds."""
    grouped = per_image.groupby(GROUP, sort=True)
    summary = grouped[METRICS].mean()
    summary["n_images"] = grouped["image"].nunique()
    summary["n_seeds"] = grouped["seed"].nunique()
    summary["status"] = grouped["status"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))
    return summary.reset_index()


def to_markdown(table: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = [HEADERS.get(c, c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot_summary(per_image: pd.DataFrame, path: str | Path) -> None:
    """Bar chart of PSNR-Y and SSIM-Y per loss and model, one column per scale (95% CI over images)."""
    long = per_image.melt(id_vars=GROUP + ["image"], value_vars=["psnr_y", "ssim_y"], var_name="metric", value_name="value")
    long["metric"] = long["metric"].map(HEADERS)
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.catplot(data=long, kind="bar", x="loss", y="value", hue="model", row="metric", col="scale",
                       sharey="row", errorbar=("ci", 95), height=3, aspect=1.4)
    grid.set_titles("{row_name} | x{col_name}")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=30)
    with atomic_path(path) as tmp:
        grid.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=120, bbox_inches="tight")
    plt.close(grid.figure)


def aggregate(metric_paths: list[str | Path], config: dict, out: dict[str, str | Path]) -> pd.DataFrame:
    """Write the long per-image table, the summary (CSV and Markdown), a figure and a provenance record."""
    per_image = load_metrics(metric_paths)
    summary = summarise(per_image)
    with atomic_path(out["per_image"]) as tmp:
        per_image.to_csv(tmp, index=False)
    with atomic_path(out["summary_csv"]) as tmp:
        summary.to_csv(tmp, index=False)
    write_text(out["summary_md"], f"# Study `{config['study']}`: mean over test images and seeds\n\n" + to_markdown(summary))
    plot_summary(per_image, out["figure"])
    write_text(out["provenance"], json.dumps({"config": config, "provenance": provenance.collect()}, indent=2, sort_keys=True))
    return summary
