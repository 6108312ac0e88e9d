"""A study of many losses: each figure panel shows at most ``evaluation.figures.losses`` trained
losses (the best by its metric, beside every baseline) and says so; ``evaluation.figures.pdf: false``
writes PNGs only; a long training history is thinned as it is read."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from report_runner import aggregate_into

from srloss.report.figures import (
    health_labels,
    plot_grid,
    plot_metrics,
    plot_paired_deltas,
    plot_perception_distortion,
    plot_training_curves,
)
from srloss.report.load import HISTORY_POINTS, load_histories, summarise, view_rows
from srloss.report.paths import study_outputs
from srloss.report.tables import paired_rows

LOSSES = [f"loss{i:02d}" for i in range(9)]  # loss08 best, loss00 worst on every metric
IMAGES = [f"img{i}" for i in range(6)]
LIMIT = 3


def per_image_frame() -> pd.DataFrame:
    rows = []
    for rank, loss in enumerate(["none", *LOSSES]):
        model = "bicubic" if loss == "none" else "espcn"
        for seed in (0,) if loss == "none" else (0, 1):
            for i, image in enumerate(IMAGES):
                rows.append(
                    {
                        "dataset": "d",
                        "test_set": "d",
                        "model": model,
                        "loss": loss,
                        "scale": 2,
                        "seed": seed,
                        "image": image,
                        "status": "baseline" if loss == "none" else "completed",
                        "psnr_y": 30.0 + rank + 0.1 * i + 0.01 * seed,
                        "lpips_alex": 0.5 - 0.01 * rank - 0.001 * i,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def ticks(ax: plt.Axes) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def test_a_panel_shows_the_best_losses_and_every_baseline_and_says_so():
    view = view_rows(per_image_frame(), "d", "espcn", 2)
    fig = plot_metrics(view, ["psnr_y", "lpips_alex"], "d / espcn", limit=LIMIT)
    assert [ticks(ax) for ax in fig.axes] == [["bicubic (baseline)", "loss06", "loss07", "loss08"]] * 2
    assert "At most 3 of 9 trained losses per panel" in fig._suptitle.get_text()
    every = plot_metrics(view, ["psnr_y"], "d / espcn", limit=len(LOSSES))
    assert len(ticks(every.axes[0])) == 1 + len(LOSSES) and "At most" not in every._suptitle.get_text()


def test_the_paired_figure_keeps_the_largest_gains_over_the_reference():
    frame = per_image_frame()
    rows = paired_rows(frame, "baseline")
    fig = plot_paired_deltas(rows, "baseline", ["lpips_alex"], "d / espcn", frame, limit=LIMIT)
    assert ticks(fig.axes[0]) == ["loss06", "loss07", "loss08"]  # lower LPIPS: larger gain
    assert "At most 3 of 9" in fig._suptitle.get_text()


def test_the_plane_names_a_bounded_number_of_losses():
    frame = per_image_frame()
    fig = plot_perception_distortion(summarise(frame), "lpips_alex", "", frame, limit=LIMIT)
    names = {t.get_text() for t in fig.legends[0].get_texts()}
    assert names == {"bicubic (baseline)", "espcn / loss06", "espcn / loss07", "espcn / loss08"}
    assert "3 of 9 trained model / loss named" in fig._suptitle.get_text()


def test_the_training_curves_keep_the_best_by_validation_psnr():
    frame = per_image_frame()
    runs = frame[frame["loss"] != "none"].drop_duplicates(["loss", "seed"])
    hist = pd.concat(
        [
            runs[["dataset", "model", "loss", "scale", "seed"]].assign(
                step=step, quantity="val_psnr_y", value=runs["loss"].str[-2:].astype(float) + step
            )
            for step in (10, 20)
        ]
    )
    fig = plot_training_curves(hist, frame, limit=LIMIT)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["loss06", "loss07", "loss08"]
    assert len(fig.axes[0].get_lines()) == LIMIT


def test_the_grid_shows_the_best_losses_crops_only(tmp_path):
    frame = per_image_frame()
    for loss in frame["loss"].unique():
        folder = tmp_path / loss
        folder.mkdir()
        crops = {"hr__img0": np.zeros((3, 8, 8), np.uint8), "sr__img0": np.zeros((3, 8, 8), np.uint8)}
        np.savez(folder / "crops.npz", **crops, box__img0=np.array([0, 0, 8]))
    view = view_rows(frame.assign(eval_dir=str(tmp_path) + "/" + frame["loss"]), "d", "espcn", 2)
    fig = plot_grid(view, "d / espcn / x2", limit=LIMIT)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["ground truth", "bicubic (baseline)", "loss06", "loss07", "loss08"]
    assert "At most 3 of 9 trained losses" in fig._suptitle.get_text()


def test_health_labels_are_kept_on_a_capped_panel():
    frame = per_image_frame()
    frame.loc[(frame["loss"] == "loss08") & (frame["seed"] == 1), "status"] = "stalled"
    view = view_rows(frame, "d", "espcn", 2)
    fig = plot_metrics(view, ["psnr_y"], "d / espcn", limit=LIMIT)
    assert health_labels(view)["loss08"] in ticks(fig.axes[0])


def _write_runs(root, losses: list[str]) -> list:
    paths = []
    for loss in ["none", *losses]:
        model = "bicubic" if loss == "none" else "espcn"
        run = root / f"runs/d/{model}/{loss}/x2/seed0"
        run.mkdir(parents=True)
        frame = per_image_frame()
        rows = frame[(frame["loss"] == (loss if loss in LOSSES or loss == "none" else "loss00")) & (frame["seed"] == 0)]
        rows.assign(loss=loss, study="s", missing="").to_csv(run / "metrics.csv", index=False)
        crop = np.zeros((3, 8, 8), np.uint8)
        np.savez(run / "crops.npz", hr__img0=crop, sr__img0=crop, box__img0=np.array([0, 0, 8]))
        if loss != "none":
            steps = np.arange(0, 5001, 5)
            pd.DataFrame({"step": steps, "loss": 1 / (steps + 1), "val_psnr_y": 30 + steps / 1e4}).to_csv(
                run / "history.csv", index=False
            )
            (run / "run.json").write_text(json.dumps({"spec": {"terms": [{"name": "l1"}]}}))
        paths.append(run / "metrics.csv")
    return paths


def test_png_only_output_writes_no_pdf_and_the_declared_files(tmp_path):
    root = aggregate_into(tmp_path, _write_runs(tmp_path, LOSSES[:2]), {"pdf": False})
    assert not list(root.glob("figures/**/*.pdf"))
    written = {p.relative_to(root).as_posix() for p in root.glob("[tfr]*/**/*") if p.is_file()}
    expected = study_outputs([("d", "espcn", 2)], budget=False, pdf=False)
    assert expected <= written and not any(name.endswith(".pdf") for name in expected)
    assert any(name.endswith(".pdf") for name in study_outputs([("d", "espcn", 2)], budget=False))


def test_a_long_history_is_thinned_as_it_is_read(tmp_path):
    paths = _write_runs(tmp_path, ["l1"])
    frame = pd.concat([pd.read_csv(p).assign(run_dir=str(p.parent)) for p in paths])
    hist = load_histories(frame)
    for quantity, rows in hist.groupby("quantity"):
        assert len(rows) <= HISTORY_POINTS, quantity
        assert rows["step"].iloc[0] == 0 and rows["step"].iloc[-1] == 5000  # first and last step kept
