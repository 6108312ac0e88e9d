"""What a study may conclude: unhealthy runs are never ranked, a random backbone is labelled in
every output, and a best loss worse than the untrained baseline is marked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_runner import aggregate_into

from srloss.report import aggregate as report

IMAGES = [f"img{i}" for i in range(8)]
# each loss's own seed-to-seed variation (dB, mean 0) in studies of three seeds
SEED_JITTER = {"l1": (0.01, -0.01, 0.0), "mse": (-0.01, 0.0, 0.01)}


def _at(offset, i: int) -> float:
    """An offset per image (a list) or the same for every image (a number)."""
    return offset[i] if isinstance(offset, list) else offset


def _write_run(
    root: Path, loss: str, offset, status: str, terms: list[dict] | None = None, seed: int = 0, jitter: float = 0.0
) -> Path:
    """One run's metrics.csv (PSNR-Y = 30 + i + offset + jitter on image i) and, for a trained run, run.json."""
    model = "bicubic" if loss == "none" else "espcn"
    run = root / f"runs/d/{model}/{loss}/x2/seed{seed}"
    run.mkdir(parents=True)
    rows = [
        {
            "study": "s",
            "dataset": "d",
            "model": model,
            "loss": loss,
            "scale": 2,
            "seed": seed,
            "image": img,
            "status": status,
            "psnr_y": 30 + i + _at(offset, i) + jitter,
            "ssim_y": 0.8 + 0.01 * i + (_at(offset, i) + jitter) / 100,
        }
        for i, img in enumerate(IMAGES)
    ]
    pd.DataFrame(rows).to_csv(run / "metrics.csv", index=False)
    if loss != "none":
        spec = {"loss": loss, "terms": terms or [{"name": "l1"}]}
        (run / "run.json").write_text(json.dumps({"spec": spec, "status": status}))
        pd.DataFrame({"step": [0, 10], "loss": [1.0, 0.5], "val_psnr_y": [30.0, 30.5]}).to_csv(
            run / "history.csv", index=False
        )
    return run / "metrics.csv"


def _aggregate(root: Path, runs: list[tuple], seeds: int = 1) -> Path:
    """Aggregate the runs (loss, offset, status[, terms]): the baseline once, each trained loss once
    per seed (with ``SEED_JITTER`` when there are three)."""
    paths = []
    for loss, offset, status, *terms in runs:
        for seed in range(1 if loss == "none" else seeds):
            jitter = SEED_JITTER[loss][seed] if seeds == 3 and loss != "none" else 0.0
            paths.append(_write_run(root, loss, offset, status, *terms, seed=seed, jitter=jitter))
    return aggregate_into(root, paths)


def _rows(root: Path, ext: str) -> dict[str, str]:
    text = (root / f"{report.table_stem('d', 'espcn', 2)}.{ext}").read_text()
    sep = " | " if ext == "md" else " & "
    return {line.split(sep)[0].strip("| "): line for line in text.splitlines() if sep in line}


@pytest.mark.parametrize("status", ["diverged at step 3", "runaway at step 40", "stalled", "untrained"])
def test_an_unhealthy_run_is_never_named_best(tmp_path, status):
    # the unhealthy run has the highest numbers (e.g. its untrained weights equal a good baseline)
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("bad", 3.0, status), ("mse", 1.0, "completed")])
    best = pd.read_csv(root / "tables/best.csv")
    assert set(best["best"]) == {"mse"}
    md, tex = _rows(root, "md"), _rows(root, "tex")
    assert "**" not in md["bad"] and status in md["bad"] and "**" in md["mse"]
    assert r"\textbf" not in tex["bad"] and status in tex["bad"]
    assert f"not ranked (run health): bad ({status})" in (root / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    assert "bad" not in (root / "tables/comparisons.csv").read_text()  # no pairwise test involves it


def test_when_no_run_is_healthy_nothing_is_bold(tmp_path):
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("bad", 3.0, "stalled")])
    assert "**" not in (root / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    assert "bad" not in (root / "tables/best.csv").read_text()


def test_a_best_loss_worse_than_the_baseline_is_marked(tmp_path):
    root = _aggregate(tmp_path, [("none", 2.0, "baseline"), ("mse", 1.0, "completed"), ("l1", 0.0, "completed")])
    md, tex = _rows(root, "md"), _rows(root, "tex")
    assert "**" in md["mse"] and "‡" in md["mse"] and "‡" not in md["l1"]
    assert r"$^\ddagger$" in tex["mse"]
    good = _aggregate(tmp_path / "good", [("none", 0.0, "baseline"), ("mse", 1.0, "completed")])
    assert "‡" not in _rows(good, "md")["mse"]


def test_a_random_backbone_is_labelled_in_every_output(tmp_path):
    random_vgg = [{"name": "vgg", "backbone_weights": "random"}]
    root = _aggregate(
        tmp_path, [("none", 0.0, "baseline"), ("vgg", 1.0, "completed", random_vgg), ("mse", 0.5, "completed")]
    )
    label = "vgg [random backbone]"
    for name in ("tables/per_image.csv", "tables/summary.csv", "tables/summary.md", "tables/best.csv"):
        assert label in (root / name).read_text(), name
    assert label in _rows(root, "md") and label in (root / f"{report.table_stem('d', 'espcn', 2)}.csv").read_text()
    assert "vgg [random backbone]" in (root / f"{report.table_stem('d', 'espcn', 2)}.tex").read_text()
    per_image = pd.read_csv(root / "tables/per_image.csv")
    assert not (per_image["loss"] == "vgg").any()  # never the bare name of the published loss


def test_the_latex_table_has_a_status_column(tmp_path):
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("mse", 1.0, "completed")])
    tex = (root / f"{report.table_stem('d', 'espcn', 2)}.tex").read_text()
    assert "Status" in tex and "completed" in _rows(root, "tex")["mse"] and "baseline" in tex
    assert np.isfinite(pd.read_csv(root / "tables/summary.csv")["psnr_y"]).all()


def test_no_best_is_named_when_the_images_cannot_reach_significance(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "IMAGES", IMAGES[:4])  # 4 images: Wilcoxon p >= 0.125
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("mse", 1.0, "completed"), ("l1", 0.5, "completed")])
    md = (root / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    assert "**" not in md
    assert "no best named: with 4 test images the Wilcoxon test cannot reach p < 0.05 (at least 6 are needed)" in md
    best = pd.read_csv(root / "tables/best.csv")
    assert not best["can_reach_alpha"].any() and not best["significant"].any() and best["best"].isna().all()


@pytest.mark.parametrize("n_images", [3, 10])
def test_best_csv_names_a_best_only_where_the_images_can_reach_significance(tmp_path, monkeypatch, n_images):
    # mse is 1 dB above l1 on every image: a clear winner, provable with 10 images, not with 3
    monkeypatch.setattr(sys.modules[__name__], "IMAGES", [f"img{i}" for i in range(n_images)])
    runs = [("none", 0.0, "baseline"), ("mse", 1.0, "completed"), ("l1", 0.0, "completed")]
    root = _aggregate(tmp_path, runs, seeds=3)
    best = pd.read_csv(root / "tables/best.csv").set_index("metric")
    verdict = (root / "tables/verdict.md").read_text()
    if n_images == 3:
        assert best["best"].isna().all() and best["runner_up"].isna().all() and best["p_value"].isna().all()
        assert not best["can_reach_alpha"].any() and (best["n"] == 3).all() and best["n_required"].notna().all()
        assert "d / espcn / x2, PSNR Y" in verdict and "no best named (too few test images for p < 0.05)" in verdict
        assert "best mse" not in verdict and "mse" not in (root / "tables/best.csv").read_text()
    else:
        assert set(best["best"]) == {"mse"} and set(best["runner_up"]) == {"l1"} and best["can_reach_alpha"].all()
        assert best.loc["psnr_y", "p_value"] == pytest.approx(2 / 2**10) and bool(best.loc["psnr_y", "significant"])
        assert "best mse, significantly better than l1" in verdict and "no best named" not in verdict
        assert "significantly better than l1 (best in 3/3 seeds; paired t over seeds + Wilcoxon" in verdict
        assert (best["n_seeds"] == 3).all() and (best["p_hier_holm"] < 0.05).all()


def test_one_seed_names_no_significant_winner_and_says_which_seeds_to_run(tmp_path):
    # the same clear winner as above (1 dB on each of 8 images), trained with one seed only
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("mse", 1.0, "completed"), ("l1", 0.0, "completed")])
    best = pd.read_csv(root / "tables/best.csv").set_index("metric")
    assert set(best["best"]) == {"mse"} and (best["p_value"] == 2 / 2**8).all() and not best["significant"].any()
    assert (best["n_seeds"] == 1).all() and best["p_hier_holm"].isna().all() and set(best["best_in_seeds"]) == {"1/1"}
    why = "one seed: no winner can be claimed; run seeds: [0, 1, 2] (>= 3)"
    assert (
        f"d / espcn / x2, PSNR Y (dB, BT.601, border=scale): best mse (highest mean; runner-up l1); {why}"
        in (root / "tables/verdict.md").read_text()
    )
    md = (root / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    assert f"mse vs l1: {why}" in md and "†" not in _rows(root, "md")["mse"] and "**" in _rows(root, "md")["mse"]


def test_a_non_significant_best_says_how_many_images_would_be_needed(tmp_path):
    l1 = [1.6, 0.5, 1.9, 0.6, 1.7, 0.4, 1.5, 0.9]  # better than mse (1.0) on average, not on every image
    runs = [("none", 0.0, "baseline"), ("mse", 1.0, "completed"), ("l1", l1, "completed")]
    root = _aggregate(tmp_path, runs, seeds=3)
    best = pd.read_csv(root / "tables/best.csv").set_index("metric")
    row = best.loc["psnr_y"]
    assert row["can_reach_alpha"] and not row["significant"] and row["n_required"] > len(IMAGES)
    md = (root / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    assert f"about {int(row['n_required'])} test images would be needed at the observed effect" in md
    # l1's lead (0.14 dB) against its seeds' spread (0.02 dB): the seeds already agree, the images do not
    assert row["best_in_seeds"] == "3/3" and row["p_seed"] < 0.01 and row["p_value"] > 0.05
    assert f"and about {int(row['n_seeds_required'])} seeds" in md and "best in 3/3 seeds" in md


def test_images_needed_follows_the_effect_size():
    from srloss.report.stats import images_needed, min_wilcoxon_p, required_n

    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert images_needed(x + 0.5, x) == len(x)  # every difference equal: already decisive
    d = np.array([0.5, -0.2, 0.8, 0.1, 0.4])
    assert images_needed(d, np.zeros(5)) == required_n(d.mean() / d.std(ddof=1))
    assert min_wilcoxon_p(5) == 0.0625 and min_wilcoxon_p(6) == 0.03125


def test_the_paired_figure_shows_every_image_difference(tmp_path):
    from srloss.report.figures import paired_deltas
    from srloss.report.tables import paired_rows

    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("mse", 1.0, "completed"), ("bad", 2.0, "stalled")])
    for ext in ("png", "pdf"):
        assert (root / f"figures/d/paired_espcn.{ext}").stat().st_size > 1000
    per_image = report.load_metrics(sorted(root.glob("runs/**/metrics.csv")))
    deltas = paired_deltas(paired_rows(per_image, "baseline"), "baseline", ["psnr_y", "ssim_y"])
    psnr = deltas[deltas["metric"] == "psnr_y"]
    assert set(psnr["loss"]) == {"mse"}  # the stalled run is not compared
    assert len(psnr) == len(IMAGES) and np.allclose(psnr["delta"], 1.0)  # one point per test image


def test_the_report_pages_hold_the_tables_and_the_verdict(tmp_path):
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("mse", 1.0, "completed"), ("bad", 2.0, "stalled")])
    page = (root / f"{report.table_stem('d', 'espcn', 2)}.html").read_text()
    assert "<table>" in page and "<b>" in page and "stalled" in page and "not ranked (run health)" in page
    verdict = (root / "tables/verdict.md").read_text()
    assert "d / espcn / x2, PSNR" in verdict and "best mse" in verdict and "bad" not in verdict
    assert "beats baseline (Holm p = " in verdict  # mse is 1 dB better on every image
    assert "<li>" in (root / "tables/verdict.html").read_text()


def test_intervals_never_span_impossible_values(tmp_path, monkeypatch):
    # SSIM 0.80, 0.99, 0.99 on three images: the plain t interval (0.93 +- 0.27) would exceed 1
    monkeypatch.setattr(sys.modules[__name__], "IMAGES", IMAGES[:3])
    root = _aggregate(tmp_path, [("none", 0.0, "baseline"), ("mse", [0.0, 18.0, 17.0], "completed")])
    stats = pd.read_csv(root / "tables/summary_stats.csv").set_index(["loss", "metric"])
    assert stats.loc[("mse", "ssim_y"), "ci_high"] == 1.0 and stats.loc[("mse", "ssim_y"), "mean"] < 1.0
    ssim_cell = _rows(root, "md")["mse"].split(" | ")[2]
    assert "0.9267 [0.6542, 1.0000]" in ssim_cell and "±" not in ssim_cell  # clipped, not mean ± half-width


@pytest.mark.parametrize(
    ("better", "p_holm", "gain", "sentence"),
    [
        (True, 0.001, 0.5, "it beats baseline (Holm p = 0.001)"),
        (False, 0.001, -0.5, "it is significantly worse than baseline (Holm p = 0.001)"),
        (False, 0.3, -0.5, "it does not significantly differ from baseline (Holm p = 0.3)"),
        (False, 0.3, 0.5, "it does not significantly differ from baseline (Holm p = 0.3)"),
    ],
)
def test_the_verdict_says_when_the_best_loss_is_worse_than_the_reference(better, p_holm, gain, sentence):
    from srloss.report.tables import _versus_reference

    row = pd.Series({"better": better, "p_holm": p_holm, "gain": gain, "reference": "baseline"})
    assert _versus_reference(row, 0.05) == sentence
