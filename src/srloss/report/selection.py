"""Selecting each tuned loss's grid point on the validation split (``losses.<name>.tune``).

Every grid point (``srloss.tuning``) trained with every seed and was measured on the
validation split (``<run>/val/metrics.csv``). Per (dataset, model, scale) the selected point is
the one whose ``select_by`` column, averaged over validation images per seed and then over seeds,
is best in the column's direction, among the points whose runs are all healthy (ties: the first
in grid order). ``tables/tuning.csv`` lists every point with its score; the study's tables rank
the selected point under its loss's name, and the test split of the others is used only for
``figures/tuning.png``: the validation score of every point, and, where a term's weight was
swept, the perception-distortion curve over that weight on the test split (Blau & Michaeli 2018,
"The perception-distortion tradeoff": a single weight is one point of a curve).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from srloss.metrics import find_column
from srloss.report.figures import first_measured, loss_palette, message_figure
from srloss.report.load import ARROW, HEALTHY, read_metrics_file
from srloss.report.stats import score
from srloss.tuning import LR, value_text

CELL = ["dataset", "model", "scale"]
MAX_CELLS = 8  # rows of the tuning figure; the table has every cell


def point_of(run_dir: str) -> str:
    """The loss folder of a run folder (…/<loss>/x<scale>/seed<seed>): a grid point's own name."""
    return Path(run_dir).parents[1].name


def value_column(axis: str) -> str:
    """The tuning table's column of one grid axis: ``lr``, or ``weight_<term label>``."""
    return axis if axis == LR else f"weight_{axis}"


def values_text(values: dict) -> str:
    """ "lr=0.0003, vgg=0.1": a grid point's values in words (a term by its label)."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in values.items())


def grid_values(row: Mapping) -> dict:
    """A tuning-table row's grid values by axis (``lr``, a term's label), its empty axes left out."""
    return {
        k.removeprefix("weight_"): v for k, v in row.items() if (k == LR or k.startswith("weight_")) and pd.notna(v)
    }


def select(val: pd.DataFrame, points: dict[str, dict]) -> pd.DataFrame:
    """One row per (dataset, model, scale, grid point) of ``val`` (validation metrics, ``loss`` the
    point's name): the loss, the point's values, its score (``select_by`` per seed mean over
    images, then mean over seeds), n_seeds, whether every run is healthy, and ``selected``."""
    order = {name: i for i, name in enumerate(points)}
    rows = []
    for (dataset, model, scale, point), block in val.groupby([*CELL, "loss"], sort=False):
        entry = points[point]
        column = entry["select_by"]
        per_seed = block.groupby("seed")[column].mean()
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "scale": int(scale),
                "loss": entry["loss"],
                "point": point,
                **{value_column(k): v for k, v in entry["values"].items()},
                "select_by": column,
                "direction": find_column(column).direction,
                "val_mean": per_seed.mean(),
                "val_seed_sd": per_seed.std() if len(per_seed) > 1 else np.nan,
                "n_seeds": len(per_seed),
                "healthy": bool((block["status"].astype(str) == HEALTHY).all()),
                "order": order[point],
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values([*CELL, "loss", "order"], kind="stable").reset_index(drop=True)
    table["selected"] = False
    for _, block in table.groupby([*CELL, "loss"], sort=False):
        table.loc[best_point(block), "selected"] = True
    return table.drop(columns=["order"])


def best_point(block: pd.DataFrame):
    """The index of the best of some grid points (rows of the tuning table, in grid order): the
    best validation score among those whose runs are all healthy, the first of equal scores; with
    none healthy, the first (its runs are not ranked anyway: run health)."""
    eligible = block[block["healthy"] & block["val_mean"].notna()]
    if eligible.empty:
        return block.index[0]
    scores = pd.Series(score(eligible["val_mean"], eligible["direction"].iloc[0]), index=eligible.index)
    return scores.idxmax()  # the first of equal scores


def load_validation(paths: list[str | Path]) -> pd.DataFrame:
    """The grid points' validation metrics, ``loss`` as the point's folder name."""
    frames = [read_metrics_file(p).assign(loss=point_of(str(Path(p).parent.parent))) for p in paths]
    return pd.concat(frames, ignore_index=True)


def chosen_points(table: pd.DataFrame) -> set[tuple]:
    """(dataset, model, scale, point) of each cell's selected grid point."""
    return {tuple(r) for r in table.loc[table["selected"], [*CELL, "point"]].itertuples(index=False)}


def shown_loss(dataset: str, model: str, scale: int, loss: str, chosen: set[tuple], points: dict) -> str | None:
    """The name a run of ``loss`` is shown under: its own for an untuned loss, the tuned loss's for
    its cell's selected grid point (``chosen_points``), None for the other grid points."""
    if loss not in points:
        return loss
    return points[loss]["loss"] if (dataset, model, int(scale), loss) in chosen else None


def apply_selection(per_image: pd.DataFrame, table: pd.DataFrame, points: dict[str, dict]) -> pd.DataFrame:
    """``per_image`` with the unselected grid points' rows dropped and the selected point of each cell
    named as its loss (a "[random backbone]" mark kept)."""
    raw = per_image["run_dir"].map(point_of)
    chosen = chosen_points(table)
    cells = zip(per_image["dataset"], per_image["model"], per_image["scale"], raw)
    names = pd.Series([shown_loss(*cell, chosen, points) for cell in cells], index=per_image.index)
    keep = names.notna()
    kept = per_image[keep].copy()
    kept["loss"] = [label.replace(point, name, 1) for label, point, name in zip(kept["loss"], raw[keep], names[keep])]
    return kept


def selection_notes(table: pd.DataFrame, dataset: str, model: str, scale: int) -> list[str]:
    """The results table's lines saying what each tuned loss selected in this cell."""
    if table is None or table.empty:
        return []
    cell = table[(table["dataset"] == dataset) & (table["model"] == model) & (table["scale"] == scale)]
    notes = []
    for loss, block in cell.groupby("loss", sort=False):
        chosen = block[block["selected"]].iloc[0]
        words = values_text(grid_values(chosen))
        notes.append(
            f"{loss}: tuned on the validation split ({words} selected of {len(block)} grid points by "
            f"{chosen['select_by']}, mean over {chosen['n_seeds']} seed(s)); tables/tuning.csv lists every point"
        )
    return notes


# ----- the figure -------------------------------------------------------------------------


def _test_means(per_image: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per (cell, grid point) on the cell's own test split: each column's mean over images of the seeds' mean."""
    own = per_image[per_image["test_set"] == per_image["dataset"]].assign(point=per_image["run_dir"].map(point_of))
    by_image = own.groupby([*CELL, "point", "image"])[columns].mean()
    return by_image.groupby(level=[0, 1, 2, 3]).mean().reset_index()


def _validation_panel(ax: plt.Axes, cell: pd.DataFrame, palette: dict) -> None:
    """Every grid point's validation score (seed SD as error bar); the selected ones circled."""
    labels = [f"{r['loss']}: {values_text(grid_values(r))}" for _, r in cell.iterrows()]
    y = np.arange(len(cell))
    colours = [palette[loss] for loss in cell["loss"]]
    ax.errorbar(cell["val_mean"], y, xerr=cell["val_seed_sd"].fillna(0), fmt="none", ecolor="grey", lw=0.8)
    ax.scatter(cell["val_mean"], y, c=colours, s=30, zorder=3)
    picked = cell["selected"].to_numpy()
    ax.scatter(cell["val_mean"][picked], y[picked], s=160, facecolors="none", edgecolors="black", zorder=4)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    column = cell["select_by"].iloc[0]
    info = find_column(column)
    ax.set_xlabel(f"validation {info.label} {ARROW[info.direction]}: mean over seeds (bar: their SD)")


def _curve_panel(ax: plt.Axes, cell: pd.DataFrame, means: pd.DataFrame, axes: tuple[str, str], palette: dict) -> None:
    """Per loss and swept weight: the test split's distortion vs perception over the weight, at each
    weight the point best on validation (its learning rate selected as the cell's own selection is)."""
    x, y = axes
    drawn = False
    for loss, block in cell.groupby("loss", sort=False):
        for weight in [c for c in block.columns if c.startswith("weight_") and block[c].nunique() > 1]:
            best = block.loc[[best_point(points) for _, points in block.groupby(weight, sort=True)]]
            curve = means[means["point"].isin(best["point"])].merge(best[["point", weight, "selected"]], on="point")
            curve = curve.sort_values(weight)
            ax.plot(curve[x], curve[y], "-o", color=palette[loss], label=f"{loss} ({weight.removeprefix('weight_')})")
            for r in curve.itertuples():
                ax.annotate(f"λ={value_text(getattr(r, weight))}", (getattr(r, x), getattr(r, y)), fontsize=7)
            chosen = curve[curve["selected"]]
            ax.scatter(chosen[x], chosen[y], s=160, facecolors="none", edgecolors="black", zorder=4)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no term weight swept in this cell", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.set_xlabel(f"test {find_column(x).label} {ARROW[find_column(x).direction]} (distortion)")
    ax.set_ylabel(f"test {find_column(y).label} {ARROW[find_column(y).direction]} (perception)")
    ax.legend(fontsize=7)


def plot_tuning(table: pd.DataFrame, per_image: pd.DataFrame) -> plt.Figure:
    """One row per (dataset, model, scale) cell (at most ``MAX_CELLS``): each grid point's validation
    score, and the perception-distortion curve over each swept weight on the test split."""
    if table.empty:
        return message_figure("No tuned loss has validation metrics.")
    distortion = first_measured(per_image, "distortion")
    perception = first_measured(per_image, "perception")
    cells = list(table.groupby(CELL, sort=True))
    shown = cells[:MAX_CELLS]
    fig, axes = plt.subplots(len(shown), 2, figsize=(12, 0.35 * len(table) / max(len(cells), 1) + 3.2 * len(shown)))
    axes = np.atleast_2d(axes)
    palette = loss_palette(table["loss"])
    means = _test_means(per_image, [c for c in (distortion, perception) if c]) if distortion and perception else None
    for row, ((dataset, model, scale), cell) in zip(axes, shown):
        _validation_panel(row[0], cell, palette)
        row[0].set_title(f"{dataset} / {model} / x{scale}: selection on validation (circled)")
        if means is None:
            row[1].text(0.5, 0.5, "no perception metric measured (e.g. LPIPS)", ha="center", va="center")
            row[1].set_axis_off()
        else:
            _curve_panel(row[1], cell, means, (distortion, perception), palette)
            row[1].set_title("test split: distortion vs perception over the swept weight")
    if len(cells) > len(shown):
        fig.suptitle(f"The first {len(shown)} of {len(cells)} cells; tables/tuning.csv has every one.")
    fig.tight_layout()
    return fig
