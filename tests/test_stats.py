import math

import numpy as np
import pandas as pd
import pytest

from srloss.stats import best_losses, describe, paired_wilcoxon, pairwise_tests, rank_biserial, summary_stats

T_975_4 = 2.7764451051977987  # Student t quantile, 0.975, 4 degrees of freedom (tables)


def test_describe_gives_the_student_t_interval():
    d = describe([1, 2, 3, 4, 5, float("nan")])  # NaN dropped
    assert d["n"] == 5 and d["mean"] == 3.0 and math.isclose(d["std"], math.sqrt(2.5), rel_tol=1e-12)
    half = T_975_4 * math.sqrt(2.5) / math.sqrt(5)  # 1.96324...
    assert math.isclose(d["ci_low"], 3 - half, rel_tol=1e-12) and math.isclose(d["ci_high"], 3 + half, rel_tol=1e-12)


def test_describe_with_one_value_has_unknown_spread():
    d = describe([7.0])
    assert d["mean"] == 7.0 and math.isnan(d["std"]) and math.isnan(d["ci_low"])
    assert describe([])["n"] == 0


def test_wilcoxon_exact_p_values():
    # All six differences positive: exact two-sided p = 2 / 2^6.
    r = paired_wilcoxon([1, 2, 3, 4, 5, 6], [0] * 6)
    assert r["p_value"] == pytest.approx(2 / 64, abs=1e-12) and r["effect_size"] == 1.0 and r["statistic"] == 0
    # Differences 1, 2, 3, -4, 5, 6: R- = 4, R+ = 17; 7 of the 64 sign patterns have R- <= 4.
    r = paired_wilcoxon([1, 2, 3, -4, 5, 6], [0] * 6)
    assert r["statistic"] == 4 and r["p_value"] == pytest.approx(14 / 64, abs=1e-12)
    assert r["effect_size"] == pytest.approx((17 - 4) / 21, abs=1e-12)
    assert rank_biserial([0, 0], [1, 2]) == -1.0


def test_wilcoxon_identical_samples_and_nan_pairs():
    r = paired_wilcoxon([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert r["p_value"] == 1.0 and r["n_nonzero"] == 0 and math.isnan(r["effect_size"])
    r = paired_wilcoxon([1.0, float("nan"), 3.0], [0.0, 5.0, 1.0])
    assert r["n"] == 2
    with pytest.raises(ValueError, match="paired"):
        paired_wilcoxon([1, 2], [1, 2, 3])


def _frame(values: dict[str, list[float]], metric: str = "psnr_y", seeds=(0,)) -> pd.DataFrame:
    rows = []
    for loss, vals in values.items():
        for seed in seeds:
            for i, v in enumerate(vals):
                rows.append(
                    {
                        "dataset": "d",
                        "model": "m",
                        "scale": 2,
                        "loss": loss,
                        "seed": seed,
                        "image": f"img{i}",
                        metric: v + 0.1 * seed,
                    }
                )
    return pd.DataFrame(rows)


def test_best_loss_with_significant_margin():
    rng = np.random.default_rng(0)
    base = rng.normal(30, 1, 8)
    frame = _frame({"a": list(base + 1.0), "b": list(base + 0.5), "c": list(base)})
    best = best_losses(frame, ["dataset", "model", "scale"], {"psnr_y": "max"})
    row = best.iloc[0]
    assert (row["best"], row["runner_up"]) == ("a", "b")
    assert row["p_value"] == pytest.approx(2 / 256) and row["significant"] and row["effect_size"] == 1.0


def test_best_loss_not_significant_with_two_images():
    frame = _frame({"a": [31.0, 32.0], "b": [30.0, 31.0]})
    row = best_losses(frame, ["dataset", "model", "scale"], {"psnr_y": "max"}).iloc[0]
    assert row["best"] == "a" and row["p_value"] == 0.5 and not row["significant"]


def test_direction_zero_prefers_values_near_zero():
    frame = _frame(
        {"blurry": [0.3, 0.4, 0.35, 0.5, 0.45, 0.3], "sharp": [-0.01, 0.02, 0.0, -0.02, 0.01, 0.03]},
        metric="sharpness_diff",
    )
    row = best_losses(frame, ["dataset", "model", "scale"], {"sharpness_diff": "zero"}).iloc[0]
    assert row["best"] == "sharp" and row["p_value"] == pytest.approx(2 / 64)
    tests = pairwise_tests(frame, ["dataset", "model", "scale"], {"sharpness_diff": "zero"})
    assert len(tests) == 1 and tests.iloc[0]["effect_size"] == -1.0  # loss_a = blurry is worse on every image


def test_summary_stats_across_images_and_seeds():
    frame = _frame({"a": [1.0, 2.0, 3.0, 4.0, 5.0]}, seeds=(0, 1))  # seed 1 adds 0.1 to every value
    s = summary_stats(frame, ["dataset", "model", "loss", "scale"], ["psnr_y"]).iloc[0]
    assert s["n_images"] == 5 and s["mean"] == pytest.approx(3.05)
    half = T_975_4 * math.sqrt(2.5) / math.sqrt(5)
    assert s["ci_high"] - s["mean"] == pytest.approx(half)
    assert s["n_seeds"] == 2 and s["seed_std"] == pytest.approx(0.1 / math.sqrt(2))
