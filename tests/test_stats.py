import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from srloss.report.stats import (
    best_losses,
    describe,
    paired_difference,
    paired_differences,
    paired_wilcoxon,
    pairwise_tests,
    rank_biserial,
    summary_stats,
    wilcoxon_rows,
)

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


def _frame(values: dict[str, list[float]], metric: str = "psnr_y", seeds=(0,), shifts=None) -> pd.DataFrame:
    """One row per loss, seed and image: the image's value plus 0.1 * seed, or plus shifts[loss][k]
    in the k-th seed (a seed-to-seed variation of its own per loss)."""
    rows = []
    for loss, vals in values.items():
        for k, seed in enumerate(seeds):
            shift = 0.1 * seed if shifts is None else shifts[loss][k]
            for i, v in enumerate(vals):
                rows.append(
                    {
                        "dataset": "d",
                        "model": "m",
                        "scale": 2,
                        "loss": loss,
                        "seed": seed,
                        "image": f"img{i}",
                        metric: v + shift,
                    }
                )
    return pd.DataFrame(rows)


VIEW3 = ["dataset", "model", "scale"]
# each loss's own seed-to-seed variation over three seeds (mean 0, so seed means keep the image means)
SHIFTS = {"a": [0.05, -0.05, 0.0], "b": [0.0, 0.05, -0.05], "c": [-0.05, 0.0, 0.05]}


def test_best_loss_with_significant_margin():
    rng = np.random.default_rng(0)
    base = rng.normal(30, 1, 8)
    frame = _frame({"a": list(base + 1.0), "b": list(base + 0.5), "c": list(base)}, seeds=(0, 1, 2), shifts=SHIFTS)
    best = best_losses(frame, VIEW3, {"psnr_y": "max"})
    row = best.iloc[0]
    assert (row["best"], row["runner_up"]) == ("a", "b")
    assert row["p_value"] == pytest.approx(2 / 256) and row["significant"] and row["effect_size"] == 1.0
    # seed level: D_s = 0.5 + a's shift - b's shift in each seed, a one-sample t-test over the 3 seeds
    d = 0.5 + np.subtract(SHIFTS["a"], SHIFTS["b"])
    assert row["p_seed"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue, rel=1e-9)
    assert row["p_hier"] == max(row["p_seed"], row["p_value"]) == row["p_hier_holm"]  # one claim: Holm is p
    assert (row["n_seeds"], row["seeds"], row["best_in_seeds"]) == (3, "[0, 1, 2]", "3/3")
    assert row["method"] == "paired t over seeds + Wilcoxon over images"


def test_no_best_is_named_with_two_images():
    # a is higher on both images, but with 2 images the smallest possible Wilcoxon p is 0.5
    frame = _frame({"a": [31.0, 32.0], "b": [30.0, 31.0]})
    row = best_losses(frame, ["dataset", "model", "scale"], {"psnr_y": "max"}).iloc[0]
    assert row["best"] is None and row["runner_up"] is None and math.isnan(row["best_mean"])
    assert math.isnan(row["p_value"]) and not row["significant"] and not row["can_reach_alpha"]
    assert row["n"] == 2 and row["n_required"] == 2  # every difference equal: 2 images would do for a t-test


def test_a_best_is_named_once_the_images_can_reach_alpha():
    values = {"a": [31.0 + i for i in range(6)], "b": [30.0 + i for i in range(6)]}
    row = best_losses(_frame(values, seeds=(0, 1, 2), shifts=SHIFTS), VIEW3, {"psnr_y": "max"}).iloc[0]
    assert (row["best"], row["runner_up"]) == ("a", "b") and row["can_reach_alpha"] and row["significant"]
    single = best_losses(_frame({"a": [31.0, 32.0]}), ["dataset", "model", "scale"], {"psnr_y": "max"}).iloc[0]
    assert single["best"] == "a" and single["can_reach_alpha"]  # nothing to compare with: nothing withheld


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


# --- paired differences against a reference -----------------------------------------------------


def _holm_by_hand(p):
    """Holm's step-down procedure written out from its definition (Holm 1979)."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_paired_difference_matches_scipy_t_interval_and_ttest_rel():
    from srloss.report.stats import paired_difference

    x = np.array([30.1, 28.4, 31.0, 29.7, 27.9, 30.5, 29.2, 28.8])
    y = np.array([29.8, 28.5, 30.2, 29.1, 27.6, 30.0, 29.3, 28.1])
    d = x - y
    res = paired_difference(x, y)
    lo, hi = sps.t.interval(0.95, d.size - 1, loc=d.mean(), scale=sps.sem(d))
    assert res["n"] == 8
    assert res["mean_diff"] == pytest.approx(d.mean(), abs=1e-12)
    assert (res["ci_low"], res["ci_high"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    assert res["p_value"] == pytest.approx(sps.ttest_rel(x, y).pvalue, rel=1e-12)
    assert res["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))
    # p < 0.05 exactly when the interval excludes 0: the test and the interval agree.
    assert (res["p_value"] < 0.05) == (lo > 0 or hi < 0)


def test_paired_difference_drops_nan_pairs_and_handles_constant_differences():
    from srloss.report.stats import paired_difference

    res = paired_difference([1.0, 2.0, np.nan, 4.0], [0.5, 1.5, 3.0, 3.5])
    assert res["n"] == 3 and res["mean_diff"] == pytest.approx(0.5)
    assert (res["ci_low"], res["ci_high"], res["p_value"]) == (0.5, 0.5, 0.0)
    assert paired_difference([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0, 2.0], [1.0])


def test_holm_matches_hand_computation_on_scipy_p_values():
    from srloss.report.stats import holm

    rng = np.random.default_rng(0)
    p = [sps.ttest_rel(rng.normal(0.3 * k, 1, 10), rng.normal(0, 1, 10)).pvalue for k in range(6)]
    assert holm(p) == pytest.approx(_holm_by_hand(p), rel=1e-12)
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.02, np.nan, 0.04])  # NaN is not a comparison: m = 2
    assert np.isnan(out[1]) and out[[0, 2]].tolist() == pytest.approx([0.04, 0.04])


def test_required_n_follows_the_documented_formula():
    from srloss.report.stats import required_n

    z_a, z_b = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    assert required_n(0.5) == math.ceil(((z_a + z_b) / 0.5) ** 2 + z_a**2 / 2) == 34
    assert required_n(-0.5) == 34
    assert required_n(0.0) == math.inf and math.isnan(required_n(math.nan))


def test_paired_vs_reference_uses_per_image_seed_means_and_holm_over_the_table():
    from srloss.report.stats import paired_vs_reference

    rows = []
    base = {"im0": 20.0, "im1": 22.0, "im2": 25.0, "im3": 21.0, "im4": 23.0}
    gains = {"l1": [1.0, 1.2, 0.9, 1.1, 1.05], "mse": [0.1, -0.2, 0.3, -0.1, 0.05]}
    for seed in (0, 1):
        for i, (img, b) in enumerate(base.items()):
            rows.append({"dataset": "d", "loss": "bicubic", "seed": seed, "image": img, "psnr_y": b, "lpips": 0.3})
            for loss, g in gains.items():
                v = b + g[i] + (0.2 if seed else -0.2)  # seed noise cancels in the seed mean
                rows.append(
                    {"dataset": "d", "loss": loss, "seed": seed, "image": img, "psnr_y": v, "lpips": 0.3 - g[i] / 10}
                )
    table = paired_vs_reference(pd.DataFrame(rows), ["dataset"], {"psnr_y": "max", "lpips": "min"}, "bicubic")
    assert len(table) == 4 and set(table["loss"]) == {"l1", "mse"}
    l1 = table[(table["loss"] == "l1") & (table["metric"] == "psnr_y")].iloc[0]
    assert l1["mean_diff"] == pytest.approx(np.mean(gains["l1"]))
    assert l1["p_value"] == pytest.approx(
        sps.ttest_rel(np.array(list(base.values())) + gains["l1"], list(base.values())).pvalue
    )
    assert table["p_holm"].tolist() == pytest.approx(_holm_by_hand(table["p_value"].tolist()))
    better = table.set_index(["metric", "loss"])["better"]
    # lower LPIPS is better: l1's negative difference is an improvement
    assert better[("psnr_y", "l1")] and better[("lpips", "l1")] and not better[("psnr_y", "mse")]


# --- seeds are the unit of replication -----------------------------------------------------------


def _seed_frame(offsets: dict[str, list], n_images: int, seeds=None, block: str = "d") -> pd.DataFrame:
    """PSNR-Y = 30 + i + offsets[loss][k] on image i in the k-th seed (seeds 0.. unless given); an
    offset is one number or one per image."""
    rows = []
    for loss, per_seed in offsets.items():
        for k, offset in enumerate(per_seed):
            seed = k if seeds is None else seeds[loss][k]
            rows += [
                {"dataset": block, "model": "m", "scale": 2, "loss": loss, "seed": seed, "image": f"img{i}"}
                | {"psnr_y": 30.0 + i + value}
                for i, value in enumerate(np.broadcast_to(offset, n_images))
            ]
    return pd.DataFrame(rows)


def test_a_winner_that_flips_between_seeds_is_no_winner():
    from srloss.report.tables import evidence_notes, verdict_lines

    # seed 0: a is 1 dB ahead on every image; seed 1: b is 0.8 dB ahead on every image. Averaged over
    # seeds a leads by 0.1 dB on all 10 images: the pooled Wilcoxon p is 2/2^10, yet no seed-level
    # replication supports a
    frame = _seed_frame({"a": [1.0, 0.0], "b": [0.0, 0.8]}, n_images=10)
    row = best_losses(frame, VIEW3, {"psnr_y": "max"}).iloc[0]
    assert (row["best"], row["runner_up"]) == ("a", "b")
    assert row["p_value"] == pytest.approx(2 / 2**10) and row["p_holm"] < 0.01  # what pooling would claim
    assert row["p_seed"] == pytest.approx(sps.ttest_1samp([1.0, -0.8], 0).pvalue) and row["p_seed"] > 0.5
    assert not row["significant"] and row["best_in_seeds"] == "1/2" and row["n_seeds"] == 2
    best = best_losses(frame, VIEW3, {"psnr_y": "max"})
    assert "best a, not significantly better than b (best in 1/2 seeds;" in verdict_lines(best, pd.DataFrame(), 0.05)[0]
    (note,) = evidence_notes(best, 0.05)
    assert "a vs b not significant (Holm p = " in note and "best in 1/2 seeds" in note


def test_a_winner_in_every_one_of_five_seeds_is_significant():
    from srloss.report.tables import evidence_notes, verdict_lines

    jitter = [0.1, -0.05, 0.0, 0.08, -0.1]  # a's lead differs from seed to seed, never its sign
    frame = _seed_frame({"a": [0.5 + j for j in jitter], "b": [0.0] * 5}, n_images=8)
    best = best_losses(frame, VIEW3, {"psnr_y": "max"})
    row = best.iloc[0]
    assert row["significant"] and row["best_in_seeds"] == "5/5" and row["n_seeds"] == 5
    assert row["p_seed"] == pytest.approx(sps.ttest_1samp(0.5 + np.array(jitter), 0).pvalue) and row["p_seed"] < 1e-3
    assert row["p_hier_holm"] == pytest.approx(2 / 2**8)  # the image-level p is the larger one here
    line = verdict_lines(best, pd.DataFrame(), 0.05)[0]
    assert "best a, significantly better than b (best in 5/5 seeds; paired t over seeds + Wilcoxon" in line
    assert evidence_notes(best, 0.05) == []


@pytest.mark.parametrize(("seed", "advice"), [(0, "[0, 1, 2]"), (4, "[0, 1, 4]")])
def test_one_seed_claims_no_winner_and_says_which_seeds_to_run(seed, advice):
    from srloss.report.tables import evidence_notes, verdict_lines

    frame = _seed_frame({"a": [1.0], "b": [0.0]}, n_images=10, seeds={"a": [seed], "b": [seed]})
    best = best_losses(frame, VIEW3, {"psnr_y": "max"})
    row = best.iloc[0]
    assert row["p_value"] == pytest.approx(2 / 2**10) and math.isnan(row["p_seed"]) and math.isnan(row["p_hier_holm"])
    assert not row["significant"] and row["n_seeds"] == 1 and row["best_in_seeds"] == "1/1"
    why = f"one seed: no winner can be claimed; run seeds: {advice} (>= 3)"
    assert verdict_lines(best, pd.DataFrame(), 0.05) == [
        f"d / m / x2, PSNR Y (dB, BT.601, border=scale): best a (highest mean; runner-up b); {why}."
    ]
    assert evidence_notes(best, 0.05)[0].endswith(f": a vs b: {why}")


def test_seeds_are_paired_by_index_and_agreement_counts_every_loss():
    # b has no seed 1 (say it diverged): the test pairs seeds 0 and 2; in seed 1 c beats a
    seeds = {"a": [0, 1, 2], "b": [0, 2], "c": [0, 1, 2]}
    frame = _seed_frame({"a": [1.0, 1.0, 1.2], "b": [0.9, 0.95], "c": [0.0, 1.5, 0.0]}, n_images=8, seeds=seeds)
    row = best_losses(frame, VIEW3, {"psnr_y": "max"}).iloc[0]
    assert (row["best"], row["runner_up"], row["seeds"], row["n_seeds"]) == ("a", "b", "[0, 2]", 2)
    assert row["best_in_seeds"] == "2/3" and row["p_seed"] == pytest.approx(sps.ttest_1samp([0.1, 0.25], 0).pvalue)


def test_seed_level_p_is_reproducible_and_calibrated_under_the_null():
    # 200 blocks of 5 seeds x 8 images where the loss labels are exchangeable within a seed (a random
    # sign flip of each seed's difference): each seed's model is better or worse on every image, so
    # the seed-averaged images agree and the pooled Wilcoxon rejects most of the time
    rng = np.random.default_rng(7)
    frames = []
    for k in range(200):
        effect = (rng.normal(0, 0.3, 5) * rng.choice([-1.0, 1.0], 5))[:, None]
        noise = rng.normal(0, 0.05, (2, 5, 8))  # per run and image: no tied differences
        offsets = {"a": list(effect / 2 + noise[0]), "b": list(-effect / 2 + noise[1])}
        frames.append(_seed_frame(offsets, n_images=8, block=f"b{k}"))
    frame = pd.concat(frames, ignore_index=True)
    best = best_losses(frame, VIEW3, {"psnr_y": "max"})
    # the same runs in another row order (the first 50 blocks, to keep the test short): the same verdicts
    some = frame[frame["dataset"].isin(best["dataset"][:50])].sample(frac=1.0, random_state=1)
    again = best_losses(some, VIEW3, {"psnr_y": "max"}).set_index("dataset").loc[best["dataset"][:50]]
    columns = ["best", "runner_up", "best_in_seeds", "p_seed", "p_hier", "significant"]
    pd.testing.assert_frame_equal(again[columns].reset_index(drop=True), best[columns][:50])
    assert (best["p_value"] < 0.05).mean() > 0.5  # pooling seeds as images: most true nulls rejected
    assert (best["p_seed"] < 0.05).mean() <= 0.1 and (best["p_hier"] < 0.05).mean() <= 0.1
    assert not best["significant"].any()


def test_seed_helpers():
    from srloss.report.stats import seed_scores, seeds_to_run, seeds_won

    assert (
        seeds_to_run([0]) == [0, 1, 2]
        and seeds_to_run([3, 7]) == [0, 3, 7]
        and seeds_to_run([0, 1, 2, 3]) == [0, 1, 2, 3]
    )
    frame = _seed_frame({"a": [1.0, 0.0], "b": [1.0, 0.5]}, n_images=3)
    scores = seed_scores(frame, VIEW3, "psnr_y", "min").xs(("d", "m", 2), level=[0, 1, 2])
    assert seeds_won(scores, "a") == (2, 2) and seeds_won(scores, "b") == (1, 2)  # lower is better; a tie is a win
    with pytest.raises(ValueError, match="no 'seed' column"):
        best_losses(frame.drop(columns=["seed"]), VIEW3, {"psnr_y": "max"})


# --- batched tests: the same numbers as the one-pair functions ---------------------------------


def _paired_block(rng: np.random.Generator, rows: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of paired samples with what changes scipy's method or the pairs kept: ties (values rounded
    to 0-1 decimals), zero differences, NaNs in one row only and in a column shared by every row,
    a row of identical samples and a row with no pair at all."""
    x = rng.normal(size=(rows, n)).round(int(rng.integers(0, 2)))
    y = rng.normal(size=(rows, n)).round(int(rng.integers(0, 2)))
    clean = rng.random(rows) < 0.3  # continuous values: the exact distribution where nothing else interferes
    x[clean], y[clean] = rng.normal(size=(clean.sum(), n)), rng.normal(size=(clean.sum(), n))
    same = rng.random((rows, n)) < 0.15
    y[same & ~clean[:, None]] = x[same & ~clean[:, None]]
    x[rng.random((rows, n)) < 0.05] = np.nan
    y[rng.random((rows, n)) < 0.05] = np.nan
    x[:, int(rng.integers(0, n))] = np.nan  # an image every pair misses
    x[0], x[1] = y[0], np.nan
    return x, y


@pytest.mark.parametrize("n", [1, 3, 7, 10, 16, 40, 51, 70])
def test_batched_wilcoxon_equals_the_one_pair_test(n):
    """Exact distribution, sign-flip permutation (ties or zeros at n <= 13) and normal approximation
    (n > 50, or ties at n > 13) all occur; every row's numbers equal paired_wilcoxon's to 1e-12."""
    rng = np.random.default_rng(n)
    x, y = _paired_block(rng, 8 if n <= 10 else 24, n + 1)
    batched = wilcoxon_rows(x, y)
    for i, (a, b) in enumerate(zip(x, y)):
        one = paired_wilcoxon(a, b)
        for key, value in one.items():
            got = batched[key][i]
            assert (math.isnan(value) and math.isnan(got)) or abs(got - value) <= 1e-12, (i, key, got, value)
    assert np.isnan(batched["p_value"][1]) and batched["p_value"][0] == 1.0  # no pair; every difference zero


def test_batched_paired_differences_equal_the_one_pair_function():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 30):
        x, y = _paired_block(rng, 12, n + 1)
        x[2] = y[2] + 0.25  # a constant difference: no t, p = 0
        batched = paired_differences(x, y)
        for i, (a, b) in enumerate(zip(x, y)):
            for key, value in paired_difference(a, b).items():
                got = batched[key][i]
                assert (math.isnan(value) and math.isnan(got)) or got == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_pairwise_tests_holds_one_row_per_pair_with_the_one_pair_numbers():
    rng = np.random.default_rng(5)
    values = {loss: list(rng.normal(30, 1, 7).round(1)) for loss in ("c", "a", "d", "b")}
    values["b"][2] = float("nan")
    frame = _frame(values)
    table = pairwise_tests(frame, ["dataset"], {"psnr_y": "max"})
    assert list(zip(table["loss_a"], table["loss_b"])) == list(combinations("abcd", 2))
    for row in table.itertuples():
        one = paired_wilcoxon(values[row.loss_a], values[row.loss_b])
        assert row.n == one["n"] and row.statistic == one["statistic"] and row.p_value == one["p_value"]
        assert row.effect_size == pytest.approx(one["effect_size"], nan_ok=True)
    empty = pairwise_tests(_frame({"a": [1.0, 2.0]}), ["dataset"], {"psnr_y": "max"})
    assert empty.empty and "p_value" in empty


# --- every comparison at the seed level too ------------------------------------------------------


def test_every_pairwise_comparison_carries_its_seed_level_and_adjusted_p():
    # a is better than b by 1, 2 and -0.5 dB in seeds 0, 1, 2 (same on every image); c is one seed only
    per_image = _seed_frame({"a": [1.0, 2.0, -0.5], "b": [0.0, 0.0, 0.0]}, n_images=5)
    table = pairwise_tests(per_image, ["dataset", "model", "scale"], {"psnr_y": "max"}).iloc[0]
    assert (table["loss_a"], table["loss_b"], table["n_seeds"], table["better_in_seeds"]) == ("a", "b", 3, "2/3")
    assert table["p_seed"] == pytest.approx(sps.ttest_1samp([1.0, 2.0, -0.5], 0).pvalue)
    assert table["p_hier"] == pytest.approx(max(table["p_seed"], table["p_value"]))
    assert table["p_hier_holm"] == pytest.approx(table["p_hier"])  # one comparison: Holm changes nothing
    assert table["method"].startswith("Wilcoxon signed-rank over images")


def test_one_seed_gives_no_seed_level_p_and_no_hierarchical_claim():
    per_image = _seed_frame({"a": [1.0], "b": [0.0]}, n_images=6)
    row = pairwise_tests(per_image, ["dataset", "model", "scale"], {"psnr_y": "max"}).iloc[0]
    assert row["n_seeds"] == 1 and row["better_in_seeds"] == "1/1"
    assert math.isnan(row["p_seed"]) and math.isnan(row["p_hier"]) and math.isnan(row["p_hier_holm"])


def test_the_comparison_with_the_baseline_pairs_every_seed_with_its_one_run():
    from srloss.report.stats import paired_vs_reference

    per_image = _seed_frame({"l1": [1.0, 1.5, 0.2], "baseline": [0.0]}, n_images=4)
    row = paired_vs_reference(per_image, ["dataset", "model", "scale"], {"psnr_y": "max"}, "baseline").iloc[0]
    assert (row["loss"], row["n_seeds"], row["better_in_seeds"]) == ("l1", 3, "3/3")
    assert row["p_seed"] == pytest.approx(sps.ttest_1samp([1.0, 1.5, 0.2], 0).pvalue)
    assert row["p_hier"] == pytest.approx(max(row["p_value"], row["p_seed"]))
    assert bool(row["better_across_seeds"]) == (row["p_hier_holm"] < 0.05)
    assert row["method"] == "paired t over images (seed-averaged) + paired t over seeds"
