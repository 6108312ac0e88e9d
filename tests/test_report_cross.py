"""Cross-dataset evaluation in the report: a model trained on dataset ``a`` and measured on the test
splits of ``a``, ``b`` and ``c`` gets one column group per test set, and every statistic stays
within its test set (never pooled across them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_runner import aggregate_into

from srloss.report import aggregate as report
from srloss.report.figures import plot_grid, plot_metrics, plot_perception_distortion
from srloss.report.load import load_histories, view_rows

IMAGES = {"a": 9, "b": 8, "c": 7}  # test images per test set (the same names img0.. on each)
# (a: 9 images, so that mse's wins there, p = 2/2^9 per metric, stay significant after Holm over the
# 9 tests of best.csv: 3 metrics x 3 test sets; c's, 2/2^7, do not)
SEEDS = 3  # every trained loss, each with its own seed-to-seed variation (PSNR-Y dB, mean 0)
SEED_JITTER = {"mse": (-0.01, 0.0, 0.01), "l1": (0.01, -0.01, 0.0), "vgg": (0.0, 0.01, -0.01)}
# PSNR-Y offset per (loss, test set): mse is best on a and c, l1 best on b (not significantly:
# mse is ahead on half of b's images) and worst on c; on c the baseline beats every trained loss.
OFFSETS = {
    "none": {"a": 0.0, "b": 0.0, "c": 3.0},
    "mse": {"a": 1.0, "b": [2.5, 1.0] * 4, "c": 1.0},
    "l1": {"a": 0.5, "b": 2.0, "c": -1.0},
    "vgg": {"a": 0.2, "b": 0.5, "c": 0.5},
}
RANDOM_VGG = [{"name": "vgg", "backbone_weights": "random"}]


def _at(offset, i: int) -> float:
    return offset[i] if isinstance(offset, list) else offset


def _metrics(folder: Path, loss: str, test_set: str, with_test_set: bool = True, seed: int = 0) -> Path:
    """One metrics.csv (PSNR-Y = 30 + i + offset + the seed's jitter on image i) with crops.npz beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    offset, jitter = OFFSETS[loss][test_set], SEED_JITTER.get(loss, (0.0,) * SEEDS)[seed]
    rows = [
        {
            "study": "s",
            "dataset": "a",
            **({"test_set": test_set} if with_test_set else {}),
            "model": "bicubic" if loss == "none" else "espcn",
            "loss": loss,
            "scale": 2,
            "seed": seed,
            "image": f"img{i}",
            "status": "baseline" if loss == "none" else "completed",
            "psnr_y": 30 + i + _at(offset, i) + jitter,
            "ssim_y": 0.8 + 0.01 * i + (_at(offset, i) + jitter) / 100,
            "lpips_alex": 0.3 - (_at(offset, i) + jitter) / 100,
        }
        for i in range(IMAGES[test_set])
    ]
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    crop = f"{test_set}crop"  # each test set's crops name its own images
    np.savez(
        folder / "crops.npz",
        **{f"sr__{crop}": np.zeros((3, 8, 8), np.uint8), f"hr__{crop}": np.zeros((3, 8, 8), np.uint8)},
        **{f"box__{crop}": np.array([0, 0, 8])},
    )
    return folder / "metrics.csv"


def _run(root: Path, loss: str, sets: tuple[str, ...], with_test_set: bool = True, seed: int = 0) -> list[Path]:
    """A run folder (run.json and history.csv when trained) with its own test split's metrics and
    every other test set's under ``on/<test set>/``."""
    run = root / f"runs/a/{'bicubic' if loss == 'none' else 'espcn'}/{loss}/x2/seed{seed}"
    paths = [_metrics(run if t == "a" else run / "on" / t, loss, t, with_test_set, seed) for t in sets]
    if loss != "none":
        terms = RANDOM_VGG if loss == "vgg" else [{"name": loss}]
        (run / "run.json").write_text(json.dumps({"spec": {"loss": loss, "terms": terms}, "status": "completed"}))
        pd.DataFrame({"step": [0, 10, 20], "loss": [1.0, 0.5, 0.4], "val_psnr_y": [30.0, 30.5, 30.6]}).to_csv(
            run / "history.csv", index=False
        )
    return paths


def _aggregate(root: Path, sets: tuple[str, ...] = ("a", "b", "c"), with_test_set: bool = True) -> Path:
    seeds = {loss: range(1 if loss == "none" else SEEDS) for loss in OFFSETS}  # the baseline has no seeds
    paths = [p for loss in OFFSETS for seed in seeds[loss] for p in _run(root, loss, sets, with_test_set, seed)]
    return aggregate_into(root, paths)


@pytest.fixture(scope="module")
def cross(tmp_path_factory) -> Path:
    return _aggregate(tmp_path_factory.mktemp("cross"))


def _text(root: Path, ext: str) -> str:
    return (root / f"{report.table_stem('a', 'espcn', 2)}.{ext}").read_text()


def _md_cells(root: Path) -> dict[str, dict[str, str]]:
    """Markdown results table as {loss: {header: cell}}."""
    lines = [line for line in _text(root, "md").splitlines() if line.startswith("| ")]
    split = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    header = split[0]
    return {row[0]: dict(zip(header, row)) for row in split[1:]}


def test_every_statistic_is_per_test_set(cross):
    best = pd.read_csv(cross / "tables/best.csv")
    assert list(best.columns[:3]) == ["dataset", "test_set", "model"]
    psnr = best[best["metric"] == "psnr_y"].set_index("test_set")
    assert psnr["best"].to_dict() == {"a": "mse", "b": "l1", "c": "mse"}
    assert psnr.loc["a", "n"] == 9 and psnr.loc["b", "n"] == 8 and psnr.loc["c", "n"] == 7
    assert bool(psnr.loc["a", "significant"]) and not bool(psnr.loc["b", "significant"])
    assert psnr["n_seeds"].to_dict() == {"a": 3, "b": 3, "c": 3} and psnr.loc["a", "best_in_seeds"] == "3/3"
    summary = pd.read_csv(cross / "tables/summary.csv")
    assert list(summary.columns[:2]) == ["dataset", "test_set"]
    l1 = summary[summary["loss"] == "l1"].set_index("test_set")
    assert l1["n_images"].to_dict() == {"a": 9, "b": 8, "c": 7}
    assert l1.loc["b", "psnr_y"] == pytest.approx(30 + 3.5 + 2.0) and l1.loc["c", "psnr_y"] == pytest.approx(29 + 3)
    for name in ("summary_stats.csv", "comparisons.csv", "per_image_long.csv", "paired.csv"):
        assert set(pd.read_csv(cross / "tables" / name)["test_set"]) == {"a", "b", "c"}, name


def test_paired_differences_use_the_baseline_of_the_same_test_set(cross):
    paired = pd.read_csv(cross / "tables/paired.csv")
    psnr = paired[(paired["metric"] == "psnr_y") & (paired["loss"] == "l1")].set_index("test_set")
    # l1 - bicubic: +0.5 on a, +2 on b, -1 - 3 = -4 on c (c's baseline is 3 dB better)
    assert psnr["mean_diff"].to_dict() == pytest.approx({"a": 0.5, "b": 2.0, "c": -4.0})
    assert psnr["n"].to_dict() == {"a": 9, "b": 8, "c": 7}
    assert bool(psnr.loc["b", "better"]) and not bool(psnr.loc["c", "better"])


def test_the_tables_have_one_column_group_per_test_set(cross):
    page = _text(cross, "html")
    spans = [page.index(f"<th colspan='3' style='text-align:center'>{t}</th>") for t in "abc"]
    assert spans == sorted(spans) and page.count("<th rowspan='2'>") == 2  # Loss and Status span both rows
    tex = _text(cross, "tex")
    assert r"\multicolumn{3}{c}{a} & \multicolumn{3}{c}{b} & \multicolumn{3}{c}{c}" in tex  # PSNR, SSIM, LPIPS
    assert (
        r"\cmidrule(lr){2-4}\cmidrule(lr){5-7}\cmidrule(lr){8-10}" in tex
        and r"\begin{tabular}{l" + "c" * 9 + "l}" in tex
    )
    cells = _md_cells(cross)
    header = list(cells["mse"])
    assert header[0] == "Loss" and header[-1] == "Status" and len(header) == 11
    assert header[1].startswith("a: PSNR Y") and header[4].startswith("b: PSNR Y") and header[8].startswith("c: SSIM")
    assert cells["mse"]["Status"] == "completed" and cells["bicubic (baseline)"]["Status"] == "baseline"
    caption = _text(cross, "md").splitlines()[0]
    assert (
        caption.startswith("Trained on a, model espcn, x2")
        and "a (9 image(s)), b (8 image(s)), c (7 image(s))" in caption
    )
    csv = pd.read_csv(cross / f"{report.table_stem('a', 'espcn', 2)}.csv").set_index("loss")
    assert csv.loc["l1", "b/psnr_y"] == pytest.approx(35.5) and csv.loc["l1", "c/n_images"] == 7
    assert list(csv.columns)[-1] == "status" and csv.index.tolist()[-1] == "bicubic (baseline)" and len(csv) == 4


def test_marks_are_decided_within_each_test_set(cross):
    cells = _md_cells(cross)
    psnr = {t: next(h for h in cells["mse"] if h.startswith(f"{t}: PSNR Y")) for t in "abc"}
    # a: mse best on every image (†); b: l1 best, not significantly; c: mse best on every image but under
    # the baseline (‡), and with 7 images not significantly after Holm (no †)
    assert cells["mse"][psnr["a"]].startswith("**") and cells["mse"][psnr["a"]].endswith("†")
    assert cells["l1"][psnr["b"]].startswith("**") and "†" not in cells["l1"][psnr["b"]]
    assert cells["mse"][psnr["c"]].startswith("**") and cells["mse"][psnr["c"]].endswith("**‡")
    assert "**" not in cells["l1"][psnr["a"]] + cells["l1"][psnr["c"]] + cells["mse"][psnr["b"]]
    assert "‡" not in cells["mse"][psnr["a"]] + cells["l1"][psnr["b"]]
    md = _text(cross, "md")
    assert "- b: PSNR Y" in md and "l1 vs mse not significant" in md  # a note of b only, prefixed
    assert "- a: PSNR" not in md
    assert "- c: PSNR Y (dB, BT.601, border=scale): mse vs vgg [random backbone] not significant (Holm p = " in md


def test_the_verdict_names_the_test_set(cross):
    lines = (cross / "tables/verdict.md").read_text().splitlines()
    psnr = [line for line in lines if ", PSNR Y" in line]
    assert psnr[0].startswith("- a / espcn / x2, PSNR Y") and "best mse" in psnr[0]
    assert psnr[1].startswith("- a → b / espcn / x2, PSNR Y") and "best l1" in psnr[1] and "beats baseline" in psnr[1]
    assert psnr[2].startswith("- a → c / espcn / x2, PSNR Y") and "beat" not in psnr[2]


def test_runs_are_found_from_every_test_set(cross):
    per_image = report.load_metrics(sorted(cross.glob("runs/**/metrics.csv")))
    vgg = per_image[per_image["loss"].str.startswith("vgg")]
    assert set(vgg["loss"]) == {"vgg [random backbone]"} and set(vgg["test_set"]) == {"a", "b", "c"}
    runs = {str(cross / f"runs/a/espcn/vgg/x2/seed{seed}") for seed in range(SEEDS)}
    assert set(vgg["run_dir"]) == runs
    assert set(vgg["eval_dir"]) == {f"{run}{on}" for run in runs for on in ("", "/on/b", "/on/c")}
    assert "vgg [random backbone]" in _text(cross, "md")
    hist = load_histories(per_image)  # each run once, not once per test set
    assert len(hist[(hist["loss"] == "mse") & (hist["quantity"] == "val_psnr_y")]) == 3 * SEEDS
    saved = pd.read_csv(cross / "tables/per_image.csv")
    runs = 1 + 3 * SEEDS  # the baseline and three trained losses
    assert "run_dir" not in saved and "eval_dir" not in saved and len(saved) == runs * sum(IMAGES.values())


def test_figures_facet_by_test_set_and_the_grid_reads_each_test_sets_crops(cross):
    per_image = report.load_metrics(sorted(cross.glob("runs/**/metrics.csv")))
    view = view_rows(per_image, "a", "espcn", 2)
    titles = [ax.get_title() for ax in plot_metrics(view, ["psnr_y"], "t").axes]
    assert [t.split(" (")[0] for t in titles] == ["a: PSNR Y", "b: PSNR Y", "c: PSNR Y"]
    fig = plot_perception_distortion(report.summarise(per_image), "lpips_alex", "")
    assert {ax.get_title() for ax in fig.axes} == {"test set a | x2", "test set b | x2", "test set c | x2"}
    labels = {text.get_text() for text in fig.legends[0].get_texts()}
    assert {"espcn / l1", "espcn / l1 (trained on a)", "bicubic (baseline)"} <= labels
    assert not any(label.startswith("bicubic") and "trained" in label for label in labels)  # untrained
    for t in "bc":
        grid = plot_grid(view[view["test_set"] == t], "t")
        assert grid.axes[0].get_ylabel().startswith(f"{t}crop")
    assert plot_grid(view[view["test_set"] == "a"], "t").axes[0].get_ylabel().startswith("acrop")
    for stem in (report.metrics_figure_stem("a", "espcn"), "figures/a/paired_espcn", report.grid_stem("a", "espcn", 2)):
        assert (cross / f"{stem}.png").stat().st_size > 1000, stem


@pytest.mark.parametrize("with_test_set", [True, False])
def test_a_study_with_one_test_set_keeps_its_table(tmp_path, with_test_set):
    root = _aggregate(tmp_path, sets=("a",), with_test_set=with_test_set)
    page, tex, md = _text(root, "html"), _text(root, "tex"), _text(root, "md")
    assert "colspan" not in page and r"\multicolumn" not in tex and md.startswith("Dataset a, model espcn, x2:")
    header = list(_md_cells(root)["mse"])
    assert header[1].startswith("PSNR Y") and header[-1] == "Status" and len(header) == 5
    assert set(pd.read_csv(root / "tables/best.csv")["test_set"]) == {"a"}  # filled in for older files
    csv = pd.read_csv(root / f"{report.table_stem('a', 'espcn', 2)}.csv")
    assert "psnr_y" in csv and not any("/" in c for c in csv.columns)
    verdict = (root / "tables/verdict.md").read_text()
    assert "- a / espcn / x2, PSNR Y" in verdict and "→" not in verdict
