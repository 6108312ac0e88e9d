"""Does the demo show something? Reads a finished demo's per-image table and answers, per run:
its health, and whether it beats bicubic on the test images with significance.

Each trained (model, loss, scale) is compared with the bicubic baseline at the same scale on
the seed-averaged per-image values (the pairing the study's tests use): exact two-sided
Wilcoxon signed-rank test (srloss.report.stats.paired_wilcoxon), Holm-corrected across all
trained-vs-bicubic comparisons of one metric (Holm 1979). Exit status 1 when a run is not
healthy or does not beat bicubic significantly, so the check can gate a budget change.

    python bench/demo_check.py [results/demo] [--alpha 0.05] [--metrics psnr_y ssim_y]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from srloss.report.stats import paired_wilcoxon


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (monotone, capped at 1)."""
    order = np.argsort(p_values)
    m, running, out = len(p_values), 0.0, [0.0] * len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def comparisons(per_image: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per trained (model, loss, scale): n images, mean Δ vs bicubic, images better, p."""
    means = per_image.groupby(["model", "loss", "scale", "image"])[metric].mean()
    rows = []
    for (model, loss, scale), block in means.groupby(level=["model", "loss", "scale"]):
        if model == "bicubic":
            continue
        base = means.loc[("bicubic", "none", scale)]
        own = block.droplevel(["model", "loss", "scale"]).loc[base.index]
        sign = -1.0 if metric in ("mse", "lpips_alex", "lpips_vgg") else 1.0
        delta = sign * (own - base)
        test = paired_wilcoxon(sign * own.to_numpy(), sign * base.to_numpy())
        rows.append(
            {
                "model": model,
                "loss": loss,
                "scale": scale,
                "n": len(delta),
                "mean_delta": float(delta.mean()),
                "images_better": int((delta > 0).sum()),
                "p": test["p_value"],
            }
        )
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].tolist())
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", default="results/demo")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--metrics", nargs="+", default=["psnr_y", "ssim_y"])
    args = ap.parse_args()
    per_image = pd.read_csv(Path(args.results) / "tables/per_image.csv")
    status = per_image.groupby(["model", "loss", "scale", "seed"])["status"].first()
    print("run health:", status.value_counts().to_dict())
    unhealthy = status[~status.isin(["completed", "baseline"])]
    ok = unhealthy.empty
    for key, word in unhealthy.items():
        print("  not healthy:", "/".join(map(str, key)), word)
    for metric in args.metrics:
        table = comparisons(per_image, metric)
        table["significant"] = (table["p_holm"] < args.alpha) & (table["mean_delta"] > 0)
        print(f"\n{metric}: trained run vs bicubic (Δ > 0 = better), Holm over {len(table)} comparisons")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        ok &= bool(table["significant"].all())
    print("\nverdict:", "every run healthy and significantly better than bicubic" if ok else "NOT all runs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
