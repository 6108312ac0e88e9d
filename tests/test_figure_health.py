"""Every figure that names losses marks the ones whose runs are not all completed (run health),
in the same colour the loss has when healthy."""

from __future__ import annotations

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from srloss.report import figures
from srloss.report.figures import (
    health_labels,
    loss_palette,
    plot_metrics,
    plot_paired_deltas,
    plot_perception_distortion,
    plot_summary,
    plot_training_curves,
)
from srloss.report.load import summarise, view_rows
from srloss.report.tables import paired_rows

IMAGES = [f"img{i}" for i in range(6)]
# loss -> status of seed 0 and seed 1 ("none" is the untrained bicubic baseline, one seed)
RUNS = {
    "none": ["baseline"],
    "mse": ["completed", "completed"],
    "l1": ["stalled", "stalled"],
    "gan": ["diverged at step 12", "completed"],
}
STALLED, PARTLY = "l1 [stalled]", "gan [diverged at step 12; 1 of 2 seeds completed]"


def per_image_frame() -> pd.DataFrame:
    rows = []
    for offset, (loss, statuses) in enumerate(RUNS.items()):
        for seed, status in enumerate(statuses):
            model = "bicubic" if loss == "none" else "espcn"
            for i, image in enumerate(IMAGES):
                rows.append(
                    {
                        "dataset": "d",
                        "test_set": "d",  # as load_metrics gives every row
                        "model": model,
                        "loss": loss,
                        "scale": 2,
                        "seed": seed,
                        "image": image,
                        "status": status,
                        "psnr_y": 30.0 + i + offset,
                        "ssim_y": 0.8 + 0.01 * i,
                        "lpips_alex": 0.3 - 0.01 * offset,
                    }
                )
    return pd.DataFrame(rows)


def tick_texts(fig: plt.Figure) -> set[str]:
    return {t.get_text() for ax in fig.axes for t in ax.get_xticklabels()}


def legend_texts(fig: plt.Figure) -> set[str]:
    """The legend's entries, each on one line (long names are wrapped in the figure)."""
    return {" ".join(t.get_text().split()) for legend in fig.legends for t in legend.get_texts()}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_label_names_each_unhealthy_status_and_how_many_runs_completed():
    labels = health_labels(per_image_frame())
    assert labels == {"none": "none", "mse": "mse", "l1": STALLED, "gan": PARTLY}
    across = pd.DataFrame(
        {
            "loss": ["a"] * 3,
            "model": ["m"] * 3,
            "scale": [2, 4, 4],
            "seed": [0, 0, 1],
            "status": ["runaway at step 40", "stalled", "runaway at step 40"],
        }
    )
    assert health_labels(across) == {"a": "a [runaway at step 40; stalled]"}  # distinct statuses, once each
    across.loc[1, "status"] = "completed"
    assert health_labels(across) == {"a": "a [runaway at step 40; 1 of 3 runs completed]"}  # not only seeds differ
    many = pd.DataFrame({"loss": "b", "seed": range(5), "status": [f"diverged at step {s}" for s in range(1, 6)]})
    assert health_labels(many)["b"] == "b [diverged at step 1; diverged at step 2; diverged at step 3; +2 more]"
    assert health_labels(pd.DataFrame()) == {}


def test_a_marked_loss_keeps_its_colour():
    view = view_rows(per_image_frame(), "d", "espcn", 2)
    ax = plot_metrics(view, ["psnr_y"], "d / espcn").axes[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    colours = {names[int(line.get_xdata()[0])]: mcolors.to_rgb(line.get_color()) for line in points}
    plain = loss_palette(view["loss"])
    assert set(colours) == {"bicubic (baseline)", "mse", STALLED, PARTLY}
    assert colours[STALLED] == pytest.approx(plain["l1"]) and colours[PARTLY] == pytest.approx(plain["gan"])
    assert colours["mse"] == pytest.approx(plain["mse"])


def test_the_metrics_figure_marks_the_stalled_loss():
    view = view_rows(per_image_frame(), "d", "espcn", 2)
    texts = tick_texts(plot_metrics(view, ["psnr_y", "ssim_y"], "d / espcn"))
    assert {STALLED, PARTLY, "mse", "bicubic (baseline)"} <= texts
    assert "l1" not in texts and "gan" not in texts  # never the bare name of an unhealthy loss


def test_the_paired_figure_marks_a_loss_with_seeds_that_did_not_complete():
    frame = per_image_frame()
    rows = paired_rows(frame, "baseline")
    fig = plot_paired_deltas(rows, "baseline", ["psnr_y"], "d / espcn", frame[frame["model"] == "espcn"])
    texts = tick_texts(fig)
    assert PARTLY in texts and "mse" in texts  # the stalled loss is not compared at all
    assert not any(t.startswith("l1") for t in texts) and "gan" not in texts


def test_the_training_curves_legend_marks_the_stalled_loss_in_its_colour():
    frame = per_image_frame()
    trained = frame[frame["loss"] != "none"].drop_duplicates(["loss", "seed"])
    hist = pd.concat(
        [
            trained[["dataset", "model", "loss", "scale", "seed"]].assign(step=step, quantity="loss", value=1.0 / step)
            for step in (1, 2, 3)
        ]
    )
    fig = plot_training_curves(hist, frame)
    assert {STALLED, PARTLY, "mse"} <= legend_texts(fig) and "l1" not in legend_texts(fig)
    legend = fig.legends[0]
    handles = {" ".join(t.get_text().split()): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert np.allclose(mcolors.to_rgb(handles[STALLED].get_color()), loss_palette(hist["loss"])["l1"])


def test_the_perception_distortion_legend_marks_the_stalled_loss():
    frame = per_image_frame()
    fig = plot_perception_distortion(summarise(frame), "lpips_alex", "", frame)
    texts = legend_texts(fig)
    assert {"espcn / l1 [stalled]", "espcn / mse", "bicubic (baseline)"} <= texts
    assert "espcn / gan [diverged at step 12; 1 of 2 seeds completed]" in texts and "espcn / l1" not in texts


def test_the_summary_figure_marks_the_stalled_loss(tmp_path, monkeypatch):
    monkeypatch.setattr(figures.plt, "close", lambda fig=None: None)  # keep the figure to read its labels
    plot_summary(per_image_frame(), tmp_path / "summary.png")
    texts = legend_texts(plt.gcf())  # losses in the legend, models on x; the baseline named as the tables name it
    assert {STALLED, PARTLY, "mse", "bicubic (baseline)"} <= texts and not {"l1", "none"} & texts
    assert (tmp_path / "summary.png").stat().st_size > 1000


def test_without_lpips_the_plane_shows_psnr_alone_and_says_why_without_paths():
    frame = per_image_frame()
    summary = summarise(frame).drop(columns=["lpips_alex", "lpips_alex_ci95"], errors="ignore")
    reason = (
        "LPIPS-alex: ImageNet backbone weights not cached at /home/someone/.cache/torch/hub/checkpoints/"
        "alexnet-owt-7be5be79.pth (no download is attempted)"
    )
    fig = plot_perception_distortion(summary, None, reason, frame)
    texts = [fig._suptitle.get_text()] + [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert "LPIPS (the perception axis) is missing: its pretrained weights were not fetched" in texts[0]
    assert {"espcn / mse", "espcn / l1 [stalled]", "bicubic (baseline)"} <= set(texts)
    assert not any("/home" in t or ".pth" in t for t in texts)
    assert [ax.get_xlabel() for ax in fig.axes] == ["PSNR Y (dB) ↑ (distortion)"]
    not_configured = plot_perception_distortion(summary, None, "", frame)
    assert "LPIPS is not in evaluation.metrics" in not_configured._suptitle.get_text()


def test_paths_in_published_notes_are_portable(tmp_path):
    from srloss.report.load import portable_paths

    inside = tmp_path / "resources/weights/hub/checkpoints/alexnet.pth"
    text = f"not cached at {inside} (fetch with `--torch-home {tmp_path}/resources/weights`); /opt/x/vgg.pth"
    assert portable_paths(text, tmp_path) == (
        "not cached at resources/weights/hub/checkpoints/alexnet.pth (fetch with `--torch-home "
        "resources/weights`); .../vgg.pth"
    )
    assert portable_paths("failures/faces over images, 0-255", tmp_path) == "failures/faces over images, 0-255"
