"""Budget curves (evaluation.steps): weights saved at the listed steps, evaluated as the final ones,
tabled against the step with a flag for a ranking of the losses that changes with the budget."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from test_reruns import STUDY
from test_training import outputs, run_spec, shards  # noqa: F401 (shards: a fixture)
from workflow_runner import run_snakemake

from srloss.report.budget import (
    COLUMNS,
    budget_ranking,
    budget_table,
    order_tests,
    plot_budget,
    run_means,
    selected_only,
)
from srloss.report.figures import loss_palette
from srloss.report.stats import holm
from srloss.study import ConfigError, Run, Study, check_schema
from srloss.training.loop import train
from srloss.training.step_weights import check_steps, weights_steps

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")
RUN_DIR = "results/bud/runs/photos/espcn/{loss}/x2/seed0"


def budget_study(steps: list[int], **evaluation) -> dict:
    """The tiny rerun study (espcn, 8 channels, 16 px patches), 4 training steps."""
    config = copy.deepcopy(STUDY)
    config["study"] = "bud"
    config["training"]["steps"] = 4
    config["evaluation"] = {"steps": steps, "metrics": ["psnr_y", "ssim_y", "mse"], **evaluation}
    return config


def checked(config: dict) -> Study:
    check_schema(config)
    return Study(config)


# --- config --------------------------------------------------------------------------------------


def test_the_defaults_save_no_step_and_evaluate_the_last_weights():
    config = budget_study([])
    del config["evaluation"]["steps"]
    study = checked(config)
    assert config["evaluation"]["steps"] == [] and config["evaluation"]["weights"] == "last"
    assert "save_steps" not in study.run_spec(Run("photos", "espcn", "mse", 2, 0))


def test_the_steps_are_in_the_run_spec_so_changing_them_reruns_training():
    spec = checked(budget_study([4, 2])).run_spec(Run("photos", "espcn", "mse", 2, 0))
    assert spec["save_steps"] == [2, 4]


def test_a_step_beyond_the_run_length_is_one_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"evaluation.steps: step 5 is beyond the run length of loss 'mse' \(4 steps"):
        checked(budget_study([2, 5]))


def test_a_step_beyond_a_loss_override_names_that_loss():
    config = budget_study([3])
    config["losses"]["l1"]["training"] = {"steps": 2}
    with pytest.raises(ConfigError, match=r"evaluation.steps: step 3 .* loss 'l1' \(2 steps, losses.l1.training\)"):
        checked(config)


@pytest.mark.parametrize("steps", [[0], [2, 2], ["two"]])
def test_bad_steps_are_refused_by_the_schema(steps):
    with pytest.raises(ConfigError, match="evaluation.steps"):
        checked(budget_study(steps))


def test_bad_weights_are_refused_by_the_schema():
    with pytest.raises(ConfigError, match="evaluation.weights"):
        checked(budget_study([], weights="final"))


def test_a_run_length_in_epochs_is_checked_when_training_starts():
    check_steps([2, 4], 4)
    with pytest.raises(ValueError, match=r"evaluation.steps: step 6 is beyond this run's length \(4 steps\)"):
        check_steps([2, 6], 4)


def test_a_step_not_reached_is_recorded_with_the_step_its_weights_are_from():
    assert weights_steps([2, 4, 8], 5) == {"2": 2, "4": 4, "8": 5}


# --- training -----------------------------------------------------------------------------------


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_retried_run_keeps_the_steps_it_passed_before_the_failure(shards, tmp_path, monkeypatch):  # noqa: F811
    """The weights of step 3 saved before a crash at step 7 survive the resume from the step-5 checkpoint."""
    spec = {**run_spec({"mse": {"terms": [{"name": "mse"}]}}, {"steps": 10}, "mse"), "save_steps": [3, 8]}
    execution = {"checkpoint_every": 5, "log_every": 4}
    reference = train(spec, shards["train"], shards["val"], **outputs(tmp_path / "ref"), execution=execution)
    assert reference["saved_steps"] == {"3": 3, "8": 8}

    import srloss.training.loop as loop

    step_of_call = iter(range(1, 100))
    real_step = loop.generator_step

    def crash_at_7(*args):
        if next(step_of_call) == 7:
            raise RuntimeError("node lost")
        return real_step(*args)

    monkeypatch.setattr(loop, "generator_step", crash_at_7)
    with pytest.raises(RuntimeError, match="node lost"):
        train(spec, shards["train"], shards["val"], **outputs(tmp_path / "run"), execution=execution)
    assert (tmp_path / "run/.steps/3.pt").is_file() and not (tmp_path / "run/steps").exists()
    monkeypatch.setattr(loop, "generator_step", real_step)
    record = train(spec, shards["train"], shards["val"], **outputs(tmp_path / "run"), execution=execution)
    assert record["resumed_from_steps"] == [5]
    for name in ("steps/3.pt", "steps/8.pt", "model.pt"):
        assert same(load(tmp_path / "ref" / name), load(tmp_path / "run" / name)), name
    assert not same(load(tmp_path / "run/steps/3.pt"), load(tmp_path / "run/steps/8.pt"))
    assert not (tmp_path / "run/.steps").exists()


def test_a_diverged_run_publishes_its_last_weights_for_the_steps_it_never_reached(shards, tmp_path):  # noqa: F811
    losses = {"mse": {"terms": [{"name": "mse"}]}}
    spec = {**run_spec(losses, {"steps": 30, "lr": 1.0e6}, "mse", arch="srcnn"), "save_steps": [25]}
    record = train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"log_every": 5})
    assert record["status"].startswith("diverged at step ") and record["steps_done"] < 25
    assert record["saved_steps"] == {"25": record["steps_done"]}
    assert same(load(tmp_path / "steps/25.pt"), load(tmp_path / "model.pt"))


# --- tables --------------------------------------------------------------------------------------


def tidy(rows: list[tuple[str, int, int, float]], metric: str = "psnr_y") -> pd.DataFrame:
    """A budget table from (loss, seed, step, value) rows of one view."""
    return pd.DataFrame(
        [("d", "m", loss, 2, seed, step, metric, value) for loss, seed, step, value in rows],
        columns=["dataset", "model", "loss", "scale", "seed", "step", "metric", "value"],
    )


def test_a_ranking_that_changes_in_the_means_of_two_seeds_is_no_evidence():
    # at step 10 l2 leads; at step 100 l1 overtakes (means over the two seeds), but two seeds cannot
    # show either lead: the paired t over seeds has p = 0.20 and 0.34
    table = tidy(
        [("l1", 0, 10, 20.0), ("l1", 1, 10, 21.0), ("l2", 0, 10, 22.0), ("l2", 1, 10, 22.0)]
        + [("l1", 0, 100, 27.0), ("l1", 1, 100, 26.0), ("l2", 0, 100, 25.0), ("l2", 1, 100, 25.5)]
    )
    row = budget_ranking(table).iloc[0]
    assert row["best"] == "10:l2;100:l1"
    assert row["ranking"] == "10:l2>l1;100:l1>l2"
    assert bool(row["best_changes_in_means"]) and bool(row["ranking_changes_in_means"])
    assert not row["best_changes"] and not row["ranking_changes"]
    assert row["significant_best"] == "10:-;100:-" and row["n_seeds"] == 2
    p10 = sps.ttest_rel([22.0, 22.0], [20.0, 21.0]).pvalue
    p100 = sps.ttest_rel([27.0, 26.0], [25.0, 25.5]).pvalue
    h10, h100 = holm([p10, p100])  # the two steps' comparisons are one family
    assert row["p_holm"] == f"10:{h10:.3g};100:{h100:.3g}" and h10 == h100 == pytest.approx(2 * min(p10, p100))


def test_a_reversal_over_five_seeds_is_flagged_with_holm_adjusted_evidence():
    jitter = [0.0, 0.1, -0.1, 0.05, -0.05]
    rows = [("l1", s, 10, 20.0 + j) for s, j in enumerate(jitter)] + [
        ("l2", s, 10, 22.0 - j) for s, j in enumerate(jitter)
    ]
    rows += [("l1", s, 100, 27.0 - j) for s, j in enumerate(jitter)] + [
        ("l2", s, 100, 25.0 + j) for s, j in enumerate(jitter)
    ]
    row = budget_ranking(tidy(rows)).iloc[0]
    assert row["significant_best"] == "10:l2;100:l1" and row["n_seeds"] == 5
    assert row["best_changes"] and row["ranking_changes"] and row["best_changes_in_means"]
    tests = order_tests(tidy(rows))
    raw = [sps.ttest_rel(*pair).pvalue for pair in ((np.array(jitter) + 20, 22 - np.array(jitter)),)]
    assert tests["p_value"].iloc[0] == pytest.approx(raw[0], rel=1e-9)
    assert list(tests["p_holm"]) == pytest.approx(list(holm(tests["p_value"])))
    assert list(tests["mean_diff"]) == pytest.approx([-2.0, 2.0])  # l1 - l2: behind at 10, ahead at 100


def test_one_outlier_seed_moves_the_means_but_flags_nothing():
    # three losses a little apart on four seeds; at step 2 one seed of b is far ahead (an outlier run):
    # b leads the means at step 2, yet no order is confirmed
    base = {"a": 30.0, "b": 29.9, "c": 29.8}
    noise = [0.02, -0.03, 0.01, 0.0]
    rows = [(loss, s, 1, v + n) for loss, v in base.items() for s, n in enumerate(noise)]
    rows += [
        (loss, s, 2, v + n + (1.0 if (loss, s) == ("b", 0) else 0.0))
        for loss, v in base.items()
        for s, n in enumerate(noise)
    ]
    row = budget_ranking(tidy(rows)).iloc[0]
    assert row["best"] == "1:a;2:b" and row["best_changes_in_means"]
    assert not row["best_changes"]
    assert row["significant_best"].startswith("1:") and row["significant_best"].endswith(";2:-")


def test_one_seed_confirms_no_order():
    table = tidy([("a", 0, 1, 3.0), ("b", 0, 1, 2.0), ("a", 0, 2, 1.0), ("b", 0, 2, 2.0)])
    row = budget_ranking(table).iloc[0]
    assert row["n_seeds"] == 1 and row["p_holm"] == "1:n/a;2:n/a" and row["significant_best"] == "1:-;2:-"
    assert row["best_changes_in_means"] and not row["best_changes"] and not row["ranking_changes"]


def test_a_stable_ranking_is_not_flagged_and_direction_counts():
    # mse: lower is better, so l1 (smaller values) leads at both steps
    table = tidy(
        [("l1", 0, 1, 5.0), ("l2", 0, 1, 9.0), ("ssim", 0, 1, 7.0)]
        + [("l1", 0, 2, 3.0), ("l2", 0, 2, 8.0), ("ssim", 0, 2, 4.0)],
        metric="mse",
    )
    row = budget_ranking(table).iloc[0]
    assert row["best"] == "1:l1;2:l1" and row["ranking"] == "1:l1>ssim>l2;2:l1>ssim>l2"
    assert not row["best_changes_in_means"] and not row["ranking_changes_in_means"]


def test_only_the_order_below_the_best_changing_is_a_ranking_change():
    table = tidy(
        [("a", 0, 1, 3.0), ("b", 0, 1, 2.0), ("c", 0, 1, 1.0)] + [("a", 0, 2, 3.0), ("b", 0, 2, 1.0), ("c", 0, 2, 2.0)]
    )
    row = budget_ranking(table).iloc[0]
    assert not row["best_changes_in_means"] and row["ranking_changes_in_means"]


def test_the_figure_draws_budgets_over_orders_of_magnitude_on_a_log_axis(tmp_path):
    table = tidy([(loss, 0, step, v) for loss, v in (("l1", 1.0), ("l2", 2.0)) for step in (1000, 10000, 100000)])
    paths = [tmp_path / "budget.png", tmp_path / "budget.pdf"]
    plot_budget(table, paths)
    assert all(p.stat().st_size > 1000 for p in paths)
    assert plt.gcf().axes[0].get_xscale() == "log"
    plot_budget(tidy([(loss, 0, step, 1.0) for loss in ("l1", "l2") for step in (100, 500)]), paths)
    assert plt.gcf().axes[0].get_xscale() == "linear"  # a factor of 5: a linear axis reads better


def test_the_figure_bands_span_the_seeds(tmp_path):
    table = tidy([("l1", seed, step, 20.0 + seed + step) for seed in (0, 1, 2) for step in (1, 2, 3)])
    plot_budget(table, [tmp_path / "budget.png"])
    (ax,) = plt.gcf().axes
    (band,) = ax.collections
    low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
    assert (low, high) == pytest.approx((21.0, 25.0))  # seeds 0..2 at steps 1..3: min 21, max 25
    line = [line for line in ax.get_lines() if len(line.get_xdata()) == 3][0]
    assert list(line.get_ydata()) == pytest.approx([22.0, 23.0, 24.0])  # the mean over seeds
    assert "bands their range" in plt.gcf()._suptitle.get_text()


def test_the_figure_has_the_baseline_line_and_marks_an_unhealthy_loss(tmp_path):
    table = tidy([(loss, 0, step, v + step) for loss, v in (("l1", 20.0), ("l2", 21.0)) for step in (1, 2)])
    baselines = pd.DataFrame(
        [("d", "bicubic", 2, "psnr_y", 19.5), ("d", "bicubic", 4, "psnr_y", 17.0)],
        columns=["dataset", "model", "scale", "metric", "value"],
    )
    plot_budget(table, [tmp_path / "budget.png"], {"l1": "l1", "l2": "l2 [stalled]"}, baselines)
    (ax,) = plt.gcf().axes  # one metric, one dataset/model/scale
    dashed = [line for line in ax.get_lines() if line.get_label() == "bicubic (baseline)"]
    assert len(dashed) == 1 and dashed[0].get_linestyle() == "--"  # only the x2 baseline: the panel is x2
    assert list(dashed[0].get_ydata()) == [19.5, 19.5]
    legend = {t.get_text() for t in plt.gcf().legends[0].get_texts()}
    assert legend == {"l1", "l2 [stalled]", "bicubic (baseline)"}
    colours = {line.get_label(): line.get_color() for line in plt.gcf().legends[0].get_lines()}
    assert colours["l2 [stalled]"] == loss_palette(["l1", "l2"])["l2"]  # the loss's own colour, marked or not


def _metrics_csv(path: Path, loss: str, values: list[float], **extra) -> Path:
    """One run's metrics.csv (model bicubic for the baseline ``none``), one row per value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = {"study": "s", "dataset": "d", "model": "bicubic" if loss == "none" else "m", "loss": loss, "scale": 2}
    rows = [{**ids, "seed": 0, "image": f"img{i}", "psnr_y": v, **extra} for i, v in enumerate(values)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_srloss_budget_draws_the_baselines_and_uses_only_the_own_test_split(tmp_path):
    from srloss.cli import main

    args, records = ["--step-metrics"], []
    for loss, status in (("a", "completed"), ("b", "stalled")):
        run = tmp_path / loss
        own = _metrics_csv(run / "steps/2/metrics.csv", loss, [20.0, 22.0], test_set="d")
        other = pd.read_csv(own).assign(test_set="faces", psnr_y=99.0)  # another dataset's test split
        pd.concat([pd.read_csv(own), other]).to_csv(own, index=False)
        args.append(str(own))
        _metrics_csv(run / "metrics.csv", loss, [23.0, 25.0], test_set="d")
        (run / "run.json").write_text(
            json.dumps(
                {
                    "spec": {"dataset": "d", "model": "m", "loss": loss, "scale": 2, "seed": 0},
                    "status": status,
                    "steps_done": 4,
                    "saved_steps": {"2": 2},
                }
            )
        )
        records.append(str(run / "run.json"))
    base = _metrics_csv(tmp_path / "base/metrics.csv", "none", [18.0, 19.0], test_set="d")
    out = tmp_path / "out"
    args += ["--final-metrics", str(tmp_path / "a/metrics.csv"), str(tmp_path / "b/metrics.csv")]
    args += ["--records", *records, "--baselines", str(base), "--table", str(out / "budget.csv")]
    args += ["--ranking", str(out / "ranking.csv"), "--figures", str(out / "budget.png"), str(out / "budget.pdf")]
    assert main(["budget", *args]) == 0
    table = pd.read_csv(out / "budget.csv")
    assert set(table["loss"]) == {"a", "b"} and set(table["step"]) == {2, 4}  # the baseline is no budget row
    assert set(table.loc[table["step"] == 2, "value"]) == {21.0}  # the rows of the other test split left out
    (ax,) = plt.gcf().axes
    dashed = [line for line in ax.get_lines() if line.get_label() == "bicubic (baseline)"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [18.5, 18.5]
    assert {"a", "b [stalled]", "bicubic (baseline)"} == {t.get_text() for t in plt.gcf().legends[0].get_texts()}
    assert (out / "budget.png").stat().st_size > 1000 and (out / "budget.pdf").stat().st_size > 1000


def test_a_tuned_loss_is_followed_through_the_point_selected_on_validation(tmp_path):
    """The test split would favour a.lr=1; the validation split selects a.lr=2, as the tables do."""
    from srloss.cli import main

    points = {f"a.lr={lr}": {"loss": "a", "values": {"lr": lr}, "select_by": "psnr_y"} for lr in (1, 2)}
    test = {"a.lr=1": [30.0, 31.0], "a.lr=2": [25.0, 26.0], "b": [20.0, 21.0]}
    val = {"a.lr=1": [20.0], "a.lr=2": [22.0]}
    args, finals, records, vals = ["--step-metrics"], [], [], []
    for loss, values in test.items():
        run = tmp_path / f"runs/d/m/{loss}/x2/seed0"  # the workflow's layout: the point is the loss folder
        args.append(str(_metrics_csv(run / "steps/2/metrics.csv", loss, values)))
        finals.append(str(_metrics_csv(run / "metrics.csv", loss, values)))
        spec = {"dataset": "d", "model": "m", "loss": loss, "scale": 2, "seed": 0}
        record = {"spec": spec, "status": "completed", "steps_done": 4, "saved_steps": {"2": 2}}
        (run / "run.json").write_text(json.dumps(record))
        records.append(str(run / "run.json"))
        if loss in val:
            vals.append(str(_metrics_csv(run / "val/metrics.csv", loss, val[loss], status="completed")))
    out = tmp_path / "out"
    args += ["--final-metrics", *finals, "--records", *records, "--table", str(out / "budget.csv")]
    args += ["--ranking", str(out / "ranking.csv"), "--figures", str(out / "budget.png")]
    assert main(["budget", *args, "--tuned", json.dumps(points), "--val-metrics", *vals]) == 0
    table = pd.read_csv(out / "budget.csv")
    assert sorted(set(table["loss"])) == ["a", "b"]  # one line per loss: no grid point of its own
    assert table.loc[table["loss"] == "a", "value"].tolist() == [25.5, 25.5]  # a.lr=2's test values, steps 2 and 4
    assert pd.read_csv(out / "ranking.csv")["best"].str.contains("lr=").sum() == 0
    assert {"a", "b"} == {t.get_text() for t in plt.gcf().legends[0].get_texts()}
    with pytest.raises(ValueError, match="losses a are tuned, but no validation metrics"):
        selected_only(pd.read_csv(out / "budget.csv"), {}, [], points)


def test_a_step_a_diverged_run_never_reached_is_left_out(tmp_path):
    def metrics(name: str, loss: str, value: float) -> Path:
        path = tmp_path / name / "metrics.csv"
        path.parent.mkdir(parents=True)
        ids = {"study": "s", "dataset": "d", "model": "m", "loss": loss, "scale": 2, "seed": 0}
        pd.DataFrame([{**ids, "image": i, "psnr_y": value + i} for i in range(2)]).to_csv(path, index=False)
        return path

    steps = [metrics("a/steps/2", "a", 20.0), metrics("a/steps/4", "a", 21.0), metrics("b/steps/2", "b", 19.0)]
    steps.append(metrics("b/steps/4", "b", 19.0))  # b diverged after step 3: its step-4 file holds step 3's weights
    finals = [metrics("a/final", "a", 21.0), metrics("b/final", "b", 19.0)]
    records = {
        ("d", "m", "a", 2, 0): {"steps_done": 4, "saved_steps": {"2": 2, "4": 4}},
        ("d", "m", "b", 2, 0): {"steps_done": 3, "saved_steps": {"2": 2, "4": 3}},
    }
    table = budget_table(steps, finals, records)
    assert sorted(zip(table["loss"], table["step"])) == [("a", 2), ("a", 4), ("b", 2), ("b", 3)]
    assert table.loc[table["loss"] == "a", "value"].tolist() == [20.5, 21.5]
    assert budget_ranking(table).iloc[0]["steps"] == "2"  # the only step where both losses have a value


def test_the_budget_follows_the_own_test_split_of_cross_evaluated_metrics():
    ids = {"study": "s", "dataset": "d", "model": "m", "loss": "a", "scale": 2, "seed": 0}
    own = [{**ids, "test_set": "d", "image": i, "psnr_y": 20.0 + i} for i in range(2)]
    other = [{**ids, "test_set": "e", "image": i, "psnr_y": 10.0} for i in range(2)]
    means = run_means(pd.DataFrame(own + other), 4)
    assert list(means.columns) == COLUMNS and means["value"].tolist() == [20.5]


# --- the workflow ---------------------------------------------------------------------------------


def test_a_study_with_steps_evaluates_and_plots_the_budget(tmp_path):
    done = run_snakemake(tmp_path, "--cores", "1", config=budget_study([2, 4]))
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / RUN_DIR.format(loss="mse")
    w2, w4, last = (torch.load(run / name, weights_only=True) for name in ("steps/2.pt", "steps/4.pt", "model.pt"))
    assert any(not torch.equal(w2[k], w4[k]) for k in w4)  # two steps of training apart
    assert all(torch.equal(w4[k], last[k]) for k in w4)  # step 4 is the last step
    assert not (run / ".steps").exists()  # the pending copies are tidied away
    assert json.loads((run / "run.json").read_text())["saved_steps"] == {"2": 2, "4": 4}
    # step 4 is evaluated exactly as the final weights are
    step4, final = pd.read_csv(run / "steps/4/metrics.csv"), pd.read_csv(run / "metrics.csv")
    columns = ["image", "psnr_y", "ssim_y", "mse"]  # (status is the run's, read from run.json beside model.pt)
    pd.testing.assert_frame_equal(step4[columns], final[columns])
    results = tmp_path / "results/bud"
    table = pd.read_csv(results / "tables/budget.csv")
    assert list(table.columns) == ["dataset", "model", "loss", "scale", "seed", "step", "metric", "value"]
    assert set(table["step"]) == {2, 4} and set(table["loss"]) == {"mse", "l1"}
    assert set(table["metric"]) == {"psnr_y", "ssim_y", "mse"}
    at4 = table[(table["loss"] == "mse") & (table["step"] == 4) & (table["metric"] == "psnr_y")]["value"]
    assert at4.item() == pytest.approx(final["psnr_y"].mean())
    ranking = pd.read_csv(results / "tables/budget_ranking.csv")
    assert len(ranking) == 3 and set(ranking["steps"]) == {"2;4"}
    assert (results / "figures/budget.png").stat().st_size > 0 and (results / "figures/budget.pdf").is_file()
    # the verdict says whether the winners hold across budgets (one seed: nothing is confirmed)
    across = "Across training budgets (steps 2, 4; paired t over seeds, Holm-adjusted): no loss is significantly best"
    assert across in (results / "tables/verdict.md").read_text()
    assert across in (results / "report/front.rst").read_text()


def test_the_verdict_says_whether_the_winner_holds_across_budgets():
    from srloss.report.landing import budget_sentence

    rows = pd.DataFrame(
        {
            "metric": ["psnr_y", "ssim_y", "mse"],
            "steps": ["10;100"] * 3,
            "significant_best": ["10:mse;100:mse", "10:l2;100:l1", "10:mse;100:-"],
            "best_changes": [False, True, False],
        }
    )
    assert budget_sentence(rows) == (
        "Across training budgets (steps 10, 100; paired t over seeds, Holm-adjusted): mse is significantly best at "
        "every step on PSNR Y; the best changes significantly with the budget on SSIM Y (l2 at step 10, l1 at step "
        "100); no loss is significantly best at every step on MSE."
    )
    assert budget_sentence(rows.iloc[:0]) == ""


def test_weights_best_makes_the_main_evaluation_use_model_best(tmp_path):
    done = run_snakemake(tmp_path, "-n", "-p", "--cores", "1", config=budget_study([], weights="best"))
    assert done.returncode == 0, done.stderr[-3000:]
    commands = [line for line in done.stdout.splitlines() if "srloss evaluate" in line and "--checkpoint" in line]
    assert commands and all("/model_best.pt" in line for line in commands)
    assert "budget" not in done.stdout.split("Job stats")[-1]  # no steps: no budget jobs
