"""Statistics for the study's answer: confidence intervals and paired tests between losses.

* Mean, sample standard deviation (ddof = 1) and the two-sided 95% Student-t confidence
  interval of the mean, mean +- t(0.975, n-1) * s / sqrt(n), computed across test images (each
  image's value averaged over seeds) and across seeds (each seed's mean over images).
* Paired comparison of two losses on the same dataset/model/scale/test images: Wilcoxon
  signed-rank test (Wilcoxon 1945; scipy.stats.wilcoxon, two-sided, zero differences dropped,
  exact distribution for small n) on the per-image values averaged over seeds, with the
  matched-pairs rank-biserial correlation r = (R+ - R-) / (R+ + R-) as effect size
  (Kerby, "The simple difference formula", Comprehensive Psychology 2014): +1 when every
  image favours the first loss's larger value, -1 the other way, 0 no tendency.

A study compares every pair of its losses (L (L - 1) / 2 tests per view and metric), so the tables
run the tests of one view and metric as one batch (``wilcoxon_rows``, ``paired_differences``):
the same numbers as the one-pair functions, at a cost linear in the pairs.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

# How "better" is defined per metric: larger, smaller, or closer to zero.
MAX, MIN, ZERO = "max", "min", "zero"

# The columns of each table below after the group's: a table with nothing in it keeps its header.
TEST_COLUMNS = "metric loss_a loss_b n n_nonzero median_diff effect_size statistic p_value".split()
# the seed level of every pairwise and reference comparison (``seed_level``), after the image-level test
SEED_LEVEL_COLUMNS = "method n_seeds better_in_seeds p_seed p_hier".split()
IMAGE_METHOD = "Wilcoxon signed-rank over images (seed-averaged) + paired t over seeds"
PAIRED_METHOD = "paired t over images (seed-averaged) + paired t over seeds"
BEST_COLUMNS = (
    "metric direction best best_mean runner_up runner_up_mean "
    "n p_value p_holm effect_size significant can_reach_alpha n_required"
).split()
STATS_COLUMNS = "metric n_images mean std ci_low ci_high n_seeds seed_std seed_ci_low seed_ci_high".split()
PAIRED_COLUMNS = "metric loss reference n mean_diff ci_low ci_high p_value effect_size n_required gain".split()


def describe(values, confidence: float = 0.95) -> dict[str, float]:
    """n, mean, std (ddof=1) and the Student-t confidence interval of the mean; NaNs are dropped.

    With one value the std and interval are NaN (unknown), not zero.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = float(x.std(ddof=1))
    half = float(t_half_width(std, n, confidence))
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def t_half_width(std, n, confidence: float = 0.95):
    """Half-width of the Student-t confidence interval of a mean: t(0.5 + confidence/2, n-1) * std / sqrt(n)
    (arrays element-wise; NaN where n < 2)."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = sps.t.ppf(0.5 + confidence / 2, np.where(n > 1, n - 1, np.nan)) * std / np.sqrt(n)
    return half


def rank_biserial(x, y) -> float:
    """Matched-pairs rank-biserial correlation of x - y (zero differences dropped); NaN if none remain."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return math.nan
    ranks = sps.rankdata(np.abs(d))
    r_plus, r_minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((r_plus - r_minus) / (r_plus + r_minus))


def paired_wilcoxon(x, y) -> dict[str, float]:
    """Two-sided Wilcoxon signed-rank test of paired samples x, y, with effect size.

    Pairs with a NaN on either side are dropped. Returns n (pairs), n_nonzero, statistic (the
    smaller rank sum), p_value (1.0 when every difference is zero), effect_size (rank-biserial
    r of x - y) and median_diff (median of x - y).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired_wilcoxon: samples must be paired (same length), got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    d = x - y
    nonzero = int(np.count_nonzero(d))
    out = {
        "n": int(d.size),
        "n_nonzero": nonzero,
        "median_diff": float(np.median(d)) if d.size else math.nan,
        "effect_size": rank_biserial(x, y),
    }
    if nonzero == 0:
        return {**out, "statistic": math.nan, "p_value": 1.0 if d.size else math.nan}
    res = sps.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    return {**out, "statistic": float(res.statistic), "p_value": float(res.pvalue)}


def score(values, direction: str):
    """Values transformed so that larger is better (for ranking)."""
    v = np.asarray(values, dtype=np.float64)
    if direction == MAX:
        return v
    if direction == MIN:
        return -v
    if direction == ZERO:
        return -np.abs(v)
    raise ValueError(f"unknown direction {direction!r}; valid choices: {MAX}, {MIN}, {ZERO}")


def per_image_means(per_image: pd.DataFrame, group: list[str], metric: str) -> pd.DataFrame:
    """Each image's value averaged over seeds: a (group..., image) x loss table of ``metric``."""
    return per_image.groupby(group + ["loss", "image"])[metric].mean().unstack("loss")


def _metric_blocks(per_image: pd.DataFrame, group: list[str], metrics: dict[str, str]):
    """Yield (metric, direction, group key, images × losses table) for every metric present."""
    for metric, direction in metrics.items():
        if metric not in per_image or per_image[metric].isna().all():
            continue
        table = per_image_means(per_image, group, metric)
        for key, block in table.groupby(level=list(range(len(group)))):
            yield metric, direction, key if isinstance(key, tuple) else (key,), block


def wilcoxon_rows(x, y) -> dict[str, np.ndarray]:
    """``paired_wilcoxon`` of every row of ``x`` and ``y`` (pairs x images) at once: the same n,
    n_nonzero, median_diff, effect_size, statistic and p_value per row, as arrays.

    scipy.stats.wilcoxon chooses its method once per call from the whole batch: the exact
    distribution (no ties, no zero differences, n <= 50), an exact sign-flip permutation test
    (ties or zeros, n <= 13) or the normal approximation. So rows are tested together only where
    they keep the same images (their NaN pattern) and one test would choose the same method for
    each of them alone.
    """
    x, y = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.atleast_2d(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        raise ValueError(f"wilcoxon_rows: samples must be paired (same shape), got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = np.where(keep, x - y, np.nan)
    nonzero = keep & (d != 0)
    n, n_nonzero = keep.sum(axis=1), nonzero.sum(axis=1)
    magnitude = np.where(nonzero, np.abs(d), np.nan)
    ranks = sps.rankdata(magnitude, axis=1, nan_policy="omit")  # NaN where dropped or zero
    r_plus, r_minus = np.where(d > 0, ranks, 0).sum(axis=1), np.where(d < 0, ranks, 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no pair: NaN, as paired_wilcoxon
        median = np.nanmedian(d, axis=1)
        effect = np.where(n_nonzero > 0, (r_plus - r_minus) / (r_plus + r_minus), np.nan)
    statistic = np.full(len(d), math.nan)
    p_value = np.where(n > 0, 1.0, math.nan)  # every difference zero: p = 1 (no pair: unknown)
    ordered = np.sort(magnitude, axis=1)
    ties = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    zeros = n > n_nonzero
    # scipy's choice (scipy.stats._wilcoxon): 0 exact, 1 permutation, 2 normal approximation
    method = np.where(n > 50, 2, np.where(~(ties | zeros), 0, np.where(n <= 13, 1, 2)))
    flips = np.flatnonzero((n_nonzero > 0) & (method == 1))
    statistic[flips] = np.minimum(r_plus, r_minus)[flips]
    p_value[flips] = _sign_flip_p(np.where(d > 0, ranks, 0)[flips], np.nan_to_num(ranks[flips]))
    tested = np.flatnonzero((n_nonzero > 0) & (method != 1))
    if tested.size:
        _, pattern = np.unique(keep[tested], axis=0, return_inverse=True)
        batches = pattern.ravel() * 3 + method[tested]
        for batch in np.unique(batches):
            rows = tested[batches == batch]
            cols = keep[rows[0]]
            res = sps.wilcoxon(x[rows][:, cols], y[rows][:, cols], zero_method="wilcox", axis=1)
            statistic[rows], p_value[rows] = res.statistic, res.pvalue
    return {
        "n": n,
        "n_nonzero": n_nonzero,
        "median_diff": median,
        "effect_size": effect,
        "statistic": statistic,
        "p_value": p_value,
    }


def _sign_flip_p(positive: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Two-sided p of the exact sign-flip permutation test scipy.stats.wilcoxon runs for n <= 13
    with ties or zeros (R+ over all 2^n sign patterns; ``ranks``: each nonzero difference's rank,
    0 for a zero or dropped pair; ``positive``: the ranks of the positive differences, 0 elsewhere).

    Counted here rather than by scipy.stats.permutation_test, which evaluates the statistic once
    per pattern (seconds per row at n = 13): ranks are multiples of 1/2, so the null distribution
    of 2 R+ is the exact count of subset sums of 2 x ranks, and p = 2 min(P(R+ <= r), P(R+ >= r))
    equals scipy's to the last bit (zero differences scale both counts by the same power of 2).
    """
    halves = np.rint(2 * ranks).astype(np.int64)
    observed = np.rint(2 * positive.sum(axis=1)).astype(np.int64)
    rows, width = np.arange(len(halves)), int(halves.sum(axis=1).max(initial=0)) + 1
    counts = np.zeros((len(halves), width), dtype=np.int64)
    counts[:, 0] = 1
    for h in halves.T:  # each difference positive (adds its rank) or negative (adds nothing)
        source = np.arange(width) - h[:, None]
        shifted = np.where(source >= 0, np.take_along_axis(counts, np.maximum(source, 0), axis=1), 0)
        counts += np.where(h[:, None] > 0, shifted, 0)
    below = counts.cumsum(axis=1)
    total = below[:, -1].astype(np.float64)
    less = below[rows, observed] / total
    greater = (below[:, -1] - np.where(observed > 0, below[rows, observed - 1], 0)) / total
    return np.clip(np.minimum(less, greater) * 2, 0.0, 1.0)


def seed_level(runs: pd.DataFrame, a: list[str], b: list | np.ndarray, method: str) -> dict[str, np.ndarray]:
    """The seed level of comparisons a[i] vs b[i] on ``runs``, a (seed, image) x loss table of
    scores (``seed_scores``): per seed D_s = the mean over images of a's score minus b's (b a loss
    name, or per row of ``runs`` a reference score array), then a paired t over the seeds
    (``p_seed``), the seeds in which a is better ("2/3"), and ``p_hier``, filled by the caller."""
    x = runs[list(a)].to_numpy(dtype=np.float64)
    y = np.stack([runs[n].to_numpy(dtype=np.float64) if isinstance(n, str) else n for n in b], axis=1)
    seeds = pd.DataFrame(x - y).groupby(runs.index.get_level_values("seed").to_numpy()).mean().to_numpy().T
    test = paired_differences(seeds, np.zeros_like(seeds))
    ran = np.isfinite(seeds).sum(axis=1)
    better = [f"{w}/{n}" if n else "" for w, n in zip((seeds > 0).sum(axis=1), ran)]
    return {"method": method, "n_seeds": ran, "better_in_seeds": better, "p_seed": test["p_value"]}


def pairwise_tests(per_image: pd.DataFrame, group: list[str], metrics: dict[str, str]) -> pd.DataFrame:
    """Every pair of losses within each group, per metric: the Wilcoxon test over images (values
    averaged over seeds) and the seed level (``seed_level``: paired t over the seeds' mean
    differences, the seeds in which ``loss_a`` is better); ``p_hier`` = the larger p, Holm-adjusted
    over the whole table (``p_hier_holm``; ``p_holm``: the image-level p's own adjustment).

    Values are direction-adjusted first (``score``), so a positive effect size or median
    difference means ``loss_a`` is better. The pairs of one group and metric are one batch
    (``wilcoxon_rows``).
    """
    frames, seeded = [], {}
    for metric, direction, key, block in _metric_blocks(per_image, group, metrics):
        losses = sorted(c for c in block.columns if block[c].notna().any())
        if len(losses) < 2:
            continue
        scores = score(block[losses].to_numpy(dtype=np.float64), direction)
        a, b = np.triu_indices(len(losses), 1)  # the order of itertools.combinations
        names = np.array(losses, dtype=object)
        test = wilcoxon_rows(scores[:, a].T, scores[:, b].T)
        if metric not in seeded:
            seeded[metric] = seed_scores(per_image, group, metric, direction)
        runs = seeded[metric].xs(key, level=list(range(len(group))), drop_level=True)
        seeds = seed_level(runs, list(names[a]), list(names[b]), IMAGE_METHOD)
        ids = {**dict(zip(group, key)), "metric": metric, "loss_a": names[a], "loss_b": names[b]}
        frames.append(pd.DataFrame({**ids, **test, **seeds}))
    columns = [*group, *TEST_COLUMNS, *SEED_LEVEL_COLUMNS]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return _adjusted(table.reindex(columns=columns))


def _adjusted(table: pd.DataFrame) -> pd.DataFrame:
    """``p_hier`` (the larger of the image- and seed-level p; NaN with fewer than 2 seeds: no seed
    level, no claim) and the Holm adjustments over the whole table."""
    table["p_hier"] = np.where(table["n_seeds"].fillna(0) >= 2, table[["p_value", "p_seed"]].max(axis=1), np.nan)
    table["p_holm"] = holm(table["p_value"])
    table["p_hier_holm"] = holm(table["p_hier"])
    return table


# --- the best loss: seeds are the unit of replication --------------------------------------------
#
# A best-vs-runner-up claim is tested at two levels and needs both (an intersection-union test,
# Berger, Technometrics 24, 1982: the larger p is a valid p for "no difference at one level or the
# other", so requiring both keeps the level):
#   seeds:  paired t-test over seeds of D_s = mean over images of score(best) - score(runner-up) in
#           seed s (the same seed index for both losses: same data order and initialisation seed),
#           the summary-statistic approach to repeated measures (Holmes & Friston, NeuroImage 7, 1998);
#           images are repeated measures of one trained model, not replicates (Hurlbert 1984);
#   images: the Wilcoxon signed-rank test over images of the seed-averaged values (paired_wilcoxon),
#           so that a win carried by a few images is no win either.
# p_hier = max(p_seed, p_value), Holm-adjusted over every claim of the study (p_hier_holm). With
# one seed there is no seed-level test and no claim. docs/evaluation.md says why not a bootstrap.

SEED_METHOD = "paired t over seeds + Wilcoxon over images"
SEED_COLUMNS = "method n_seeds seeds best_in_seeds p_seed p_hier p_hier_holm n_seeds_required".split()
ADVISED_SEEDS = 3  # what a one-seed verdict asks for: a t-test over 2 seeds has 1 degree of freedom


def seed_scores(per_image: pd.DataFrame, group: list[str], metric: str, direction: str) -> pd.DataFrame:
    """Every run's direction-adjusted value (``score``) per image: a (group..., seed, image) x loss table."""
    if "seed" not in per_image:
        raise ValueError(
            f"best_losses: the per-image table has no 'seed' column (it has {', '.join(map(str, per_image))}); "
            "seeds are the unit of replication: pass the rows of metrics.csv, which name their seed"
        )
    values = per_image.groupby(group + ["seed", "image", "loss"])[metric].mean().unstack("loss")
    return pd.DataFrame(score(values.to_numpy(), direction), index=values.index, columns=values.columns)


def seed_differences(seeded: pd.DataFrame, a: str, b: str) -> pd.Series:
    """D_s per seed both losses ran: the mean over images (where both have a value) of a's score minus
    b's, on a (seed, image) x loss table of scores."""
    return (seeded[a] - seeded[b]).groupby(level="seed").mean().dropna()


def seeds_won(seeded: pd.DataFrame, loss: str) -> tuple[int, int]:
    """(seeds where ``loss`` has the best seed mean of every loss, a tie counting as a win; seeds
    where it has a value) on a (seed, image) x loss table of scores."""
    means = seeded.groupby(level="seed").mean()
    own = means[loss].dropna()
    top = means.loc[own.index].max(axis=1)
    return int((own >= top - 1e-12).sum()), int(own.size)


def seeds_to_run(seeds: list[int], at_least: int = ADVISED_SEEDS) -> list[int]:
    """The study's seeds, completed with the smallest unused ones up to ``at_least``: what to set
    ``seeds:`` to when a claim needs more of them."""
    out, candidate = sorted(set(seeds)), 0
    while len(out) < at_least:
        if candidate not in out:
            out.append(candidate)
        candidate += 1
    return sorted(out)


def best_losses(
    per_image: pd.DataFrame, group: list[str], metrics: dict[str, str], alpha: float = 0.05
) -> pd.DataFrame:
    """Per group and metric: the best loss by mean (over images, seed-averaged), the runner-up,
    and whether the best is significantly better at ``alpha``.

    Significant means: at least two seeds ran both losses, and the larger of the seed-level p
    (``p_seed``: paired t over the seeds' mean differences) and the image-level p (``p_value``:
    Wilcoxon over the seed-averaged images), Holm-adjusted over every best-vs-runner-up claim of
    the table (``p_hier_holm``; Holm, Scand. J. Statist. 6, 1979), is below ``alpha`` (see the
    section comment). ``best_in_seeds`` ("4/5") counts the seeds in which the best loss also has
    the best seed mean; ``seeds`` lists the seeds paired (JSON); ``p_holm`` keeps the image-level
    test's own Holm adjustment.

    Scores are direction-adjusted (e.g. |sharpness difference|), so a positive effect size means
    the best loss is better on most images. Where the test images are too few for the Wilcoxon
    test ever to reach ``alpha`` (``can_reach_alpha`` False) no best is named: ``best``,
    ``runner_up``, their means, the p-values, ``effect_size`` and ``best_in_seeds`` are empty;
    ``n``, ``n_seeds`` and ``n_required`` (the images a paired test would need at the observed
    effect) stay. ``n_seeds_required`` is the same for seeds (the seed-level t-test).
    """
    rows, pairs, seeded = [], {}, {}  # pairs: row index -> (best, runner-up scores, D_s), for *_required
    for metric, direction, key, block in _metric_blocks(per_image, group, metrics):
        if metric not in seeded:
            seeded[metric] = seed_scores(per_image, group, metric, direction)
        runs = seeded[metric].xs(key, level=list(range(len(group))), drop_level=True)
        found = _best_of_block(block, direction, alpha, runs)
        if found is None:
            continue
        row, scores = found
        if scores is not None:
            pairs[len(rows)] = scores
        rows.append({**dict(zip(group, key)), "metric": metric, **row})
    table = pd.DataFrame(rows, columns=[*group, *BEST_COLUMNS, *SEED_COLUMNS])
    table["p_holm"] = holm(table["p_value"])
    table["p_hier_holm"] = holm(table["p_hier"])
    table["n_seeds"] = table["n_seeds"].astype("Int64")  # "3" in best.csv, empty without a runner-up
    table["significant"] = ((table["p_hier_holm"] < alpha) & (table["n_seeds"] >= 2).fillna(False)).astype(bool)
    # images and seeds needed at the level Holm's first step asks of a claim: alpha / (number of claims)
    level = alpha / max(1, int(table["p_value"].notna().sum()))
    for i, (best, second, seed_diff) in pairs.items():
        table.loc[i, "n_required"] = images_needed(best, second, level)
        table.loc[i, "n_seeds_required"] = images_needed(seed_diff, np.zeros(seed_diff.size), level)
    return table


def _best_of_block(
    block: pd.DataFrame, direction: str, alpha: float, runs: pd.DataFrame
) -> tuple[dict, tuple | None] | None:
    """One ``best_losses`` row (without its group and metric) for an image x loss block (values
    averaged over seeds) and ``runs``, the same per (seed, image) as scores; and the best and
    runner-up's scores with their seed differences (None without a runner-up); None where no loss
    has a value."""
    means = {c: float(np.nanmean(score(block[c], direction))) for c in block.columns if block[c].notna().any()}
    if not means:
        return None
    ranked = sorted(means, key=lambda c: (-means[c], c))
    row = {"direction": direction, "best": ranked[0], "best_mean": float(block[ranked[0]].mean())}
    row |= {"runner_up": None, "runner_up_mean": math.nan, "n": math.nan, "p_value": math.nan}
    row |= {"effect_size": math.nan, "significant": False, "n_required": math.nan}
    row |= {"method": None, "n_seeds": math.nan, "seeds": None, "best_in_seeds": None}
    row |= {"p_seed": math.nan, "p_hier": math.nan, "n_seeds_required": math.nan}
    row["can_reach_alpha"] = True  # nothing to compare with: nothing to withhold
    if len(ranked) == 1:
        return row, None
    best, second = score(block[ranked[0]], direction), score(block[ranked[1]], direction)
    test = paired_wilcoxon(best, second)
    row |= {"runner_up": ranked[1], "runner_up_mean": float(block[ranked[1]].mean()), "n": test["n"]}
    row |= {"p_value": test["p_value"], "effect_size": test["effect_size"]}
    seed_diff = seed_differences(runs, ranked[0], ranked[1])
    won, ran = seeds_won(runs, ranked[0])
    p_seed = paired_difference(seed_diff.to_numpy(), np.zeros(seed_diff.size))["p_value"]
    row |= {
        "method": SEED_METHOD,
        "n_seeds": int(seed_diff.size),
        "seeds": json.dumps(sorted(map(int, seed_diff.index))),
    }
    row |= {"best_in_seeds": f"{won}/{ran}", "p_seed": p_seed, "p_hier": float(np.max([p_seed, test["p_value"]]))}
    row["can_reach_alpha"] = bool(min_wilcoxon_p(test["n"]) < alpha)
    if not row["can_reach_alpha"]:  # a highest mean that no test could confirm is no best
        row |= {"best": None, "best_mean": math.nan, "runner_up": None, "runner_up_mean": math.nan}
        row |= {"p_value": math.nan, "effect_size": math.nan, "best_in_seeds": None}
        row |= {"p_seed": math.nan, "p_hier": math.nan}
    return row, (best, second, seed_diff.to_numpy())


def summary_stats(
    per_image: pd.DataFrame, group: list[str], metrics: list[str], confidence: float = 0.95
) -> pd.DataFrame:
    """Long table: per group (incl. loss) and metric, statistics across images and across seeds."""
    rows = []
    for key, block in per_image.groupby(group, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric not in block:
                continue
            over_images = describe(block.groupby("image")[metric].mean(), confidence)
            over_seeds = describe(block.groupby("seed")[metric].mean(), confidence)
            rows.append(
                {
                    **dict(zip(group, key)),
                    "metric": metric,
                    "n_images": over_images["n"],
                    "mean": over_images["mean"],
                    "std": over_images["std"],
                    "ci_low": over_images["ci_low"],
                    "ci_high": over_images["ci_high"],
                    "n_seeds": over_seeds["n"],
                    "seed_std": over_seeds["std"],
                    "seed_ci_low": over_seeds["ci_low"],
                    "seed_ci_high": over_seeds["ci_high"],
                }
            )
    return pd.DataFrame(rows, columns=[*group, *STATS_COLUMNS])


# --- paired differences against a reference -----------------------------------------------------
#
# Per image (seed-averaged) difference d = metric(loss) - metric(reference). The interval is the
# Student-t 95% CI of mean(d); the test is the paired t-test (scipy.stats.ttest_rel), chosen over
# Wilcoxon so that p < alpha exactly when the CI excludes 0, and because Wilcoxon's exact p has a
# floor (2 / 2^n: 0.0625 at n = 5) that hides whether more images would help. p-values are
# Holm-corrected (Holm, Scand. J. Statist. 1979) across every comparison of the table.
# The images needed, from the observed standardised effect d_z = mean(d) / sd(d), use the normal
# approximation with Guenther's (1981) correction for the t distribution:
#     n = ((z_{1-alpha/2} + z_{power}) / d_z)^2 + z_{1-alpha/2}^2 / 2,  rounded up.


# Not statsmodels' multipletests(method="holm"): a new dependency for ten lines, which would still need the NaN skip
def holm(p_values) -> np.ndarray:
    """Holm step-down adjusted p-values (NaNs stay NaN and do not count as comparisons)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m, running = order.size, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def min_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p the exact Wilcoxon signed-rank test can give with n pairs: 2/2^n
    (every difference of one sign). With n < 6 it is at least 0.0625: no result can reach 0.05."""
    return 2.0 / 2**n if n > 0 else 1.0


def images_needed(x, y, alpha: float = 0.05, power: float = 0.8) -> float:
    """Images a paired test would need to show the observed difference x - y (``required_n`` at
    the observed d_z = mean/sd of the per-image differences); NaN without two finite pairs."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return math.nan
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        return math.inf if float(np.mean(d)) == 0 else float(d.size)
    return required_n(float(np.mean(d)) / sd, alpha, power)


def required_n(effect, alpha: float = 0.05, power: float = 0.8):
    """Images needed for a two-sided paired t-test to detect standardised effect ``effect`` (d_z).

    Normal approximation plus Guenther's correction (see the section comment); inf when d_z = 0,
    NaN when it is not finite. An array of effects gives an array.
    """
    e = np.abs(np.asarray(effect, dtype=np.float64))
    z_a, z_b = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where(np.isfinite(e), np.ceil(((z_a + z_b) / e) ** 2 + z_a**2 / 2), math.nan)
    return float(n) if n.ndim == 0 else n


def paired_difference(x, y, confidence: float = 0.95, alpha: float = 0.05) -> dict[str, float]:
    """Mean of x - y over pairs, its Student-t CI, the paired t-test p and the images needed.

    Pairs with a NaN on either side are dropped. With every difference equal (sd 0 up to
    rounding) the CI is that value and p is 1 when it is 0, else 0.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired_difference: samples must be paired (same length), got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    desc = describe(d, confidence)
    out = {"n": desc["n"], "mean_diff": desc["mean"], "ci_low": desc["ci_low"], "ci_high": desc["ci_high"]}
    if desc["n"] < 2:
        return {**out, "p_value": math.nan, "effect_size": math.nan, "n_required": math.nan}
    if desc["std"] <= 1e-12 * max(1.0, abs(desc["mean"])):  # constant up to rounding: t is undefined
        p = 1.0 if abs(desc["mean"]) <= 1e-12 else 0.0
        return {
            **out,
            "ci_low": desc["mean"],
            "ci_high": desc["mean"],
            "p_value": p,
            "effect_size": math.nan,
            "n_required": math.nan,
        }
    p = float(sps.ttest_rel(x[keep], y[keep]).pvalue)
    effect = desc["mean"] / desc["std"]
    return {**out, "p_value": p, "effect_size": effect, "n_required": required_n(effect, alpha)}


def paired_differences(x, y, confidence: float = 0.95, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """``paired_difference`` of every row of ``x`` and ``y`` (comparisons x images) at once: the
    same n, mean_diff, ci_low, ci_high, p_value, effect_size and n_required per row, as arrays."""
    x, y = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.atleast_2d(np.asarray(y, dtype=np.float64))
    if x.shape != y.shape:
        raise ValueError(f"paired_differences: samples must be paired (same shape), got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    n = keep.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(keep, x - y, 0.0).sum(axis=1) / n
        std = np.sqrt((np.where(keep, x - y - mean[:, None], 0.0) ** 2).sum(axis=1) / (n - 1))
        half = t_half_width(std, n, confidence)
        t = mean / (std / np.sqrt(n))
        p = 2 * sps.t.sf(np.abs(t), np.maximum(n - 1, 1))
        effect = mean / std
    spread = n >= 2
    constant = spread & (std <= 1e-12 * np.maximum(1.0, np.abs(mean)))  # t is undefined
    tested = spread & ~constant
    return {
        "n": n,
        "mean_diff": np.where(n >= 1, mean, math.nan),
        "ci_low": np.where(tested, mean - half, np.where(constant, mean, math.nan)),
        "ci_high": np.where(tested, mean + half, np.where(constant, mean, math.nan)),
        "p_value": np.where(tested, p, np.where(constant, (np.abs(mean) <= 1e-12).astype(float), math.nan)),
        "effect_size": np.where(tested, effect, math.nan),
        "n_required": np.where(tested, required_n(np.where(tested, effect, math.nan), alpha), math.nan),
    }


def paired_vs_reference(
    per_image: pd.DataFrame, group: list[str], metrics: dict[str, str], reference: str, alpha: float = 0.05
) -> pd.DataFrame:
    """Per group and metric, every loss's per-image difference to ``reference`` (seed-averaged).

    ``mean_diff`` is in the metric's own units (loss - reference); ``better`` says whether the
    loss is better than the reference by the metric's direction with Holm-adjusted p < ``alpha``
    (Holm over every row of the returned table). The losses of one group and metric are one batch
    (``paired_differences``).
    """
    frames, seeded = [], {}
    for metric, direction, key, block in _metric_blocks(per_image, group, metrics):
        if reference not in block.columns:
            continue
        losses = sorted(c for c in block.columns if c != reference and block[c].notna().any())
        if not losses:
            continue
        values = block[losses].to_numpy(dtype=np.float64).T  # losses x images
        ref = np.broadcast_to(block[reference].to_numpy(dtype=np.float64), values.shape)
        test = paired_differences(values, ref, alpha=alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no common image: NaN
            gain = np.nanmean(score(values, direction) - score(ref, direction), axis=1)
        if metric not in seeded:
            seeded[metric] = seed_scores(per_image, group, metric, direction)
        runs = seeded[metric].xs(key, level=list(range(len(group))), drop_level=True)
        seeds = seed_level(runs, losses, [_reference_scores(runs, reference)] * len(losses), PAIRED_METHOD)
        ids = {**dict(zip(group, key)), "metric": metric, "loss": losses, "reference": reference}
        frames.append(pd.DataFrame({**ids, **test, "gain": gain, **seeds}))
    columns = [*group, *PAIRED_COLUMNS, *SEED_LEVEL_COLUMNS]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    table = _adjusted(table.reindex(columns=columns))
    table["better"] = (table["p_holm"] < alpha) & (table["gain"] > 0)
    table["better_across_seeds"] = (table["p_hier_holm"] < alpha) & (table["gain"] > 0)
    return table


def _reference_scores(runs: pd.DataFrame, reference: str) -> np.ndarray:
    """The reference's score on each (seed, image) row of ``runs``: its own seed's for a loss, the
    image's for the untrained baseline (deterministic: it ran once, as seed 0)."""
    if reference != "baseline":
        return runs[reference].to_numpy(dtype=np.float64)
    per_image = runs[reference].groupby(level="image").mean()
    return per_image.reindex(runs.index.get_level_values("image")).to_numpy(dtype=np.float64)
