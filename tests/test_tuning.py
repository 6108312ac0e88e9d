"""Per-loss tuning (losses.<name>.tune): grid points as losses, selection on the validation split,
the selected point tabled under the loss's name, the perception-distortion curve over a swept weight."""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_reruns import STUDY
from workflow_runner import run_snakemake

from srloss import tuning
from srloss.errors import ConfigError
from srloss.report.selection import apply_selection, select, selection_notes
from srloss.study import check_schema, load_study

TUNED = {
    "terms": [{"name": "l1"}, {"name": "ssim", "weight": 0.5}],
    "tune": {"lr": [1e-3, 3e-3], "weights": {"ssim": [0, 0.5]}},
}


def study_with(losses: dict, **evaluation) -> dict:
    config = copy.deepcopy(STUDY)
    config["study"] = "tune"
    config["losses"] = copy.deepcopy(losses)
    config["evaluation"] = {"metrics": ["psnr_y", "ssim_y"], **evaluation}
    return config


def expanded(config: dict) -> dict:
    check_schema(config)
    return tuning.expand(config)


# --- the grid ---------------------------------------------------------------------------------


def test_a_tuned_loss_becomes_one_loss_per_grid_point_in_place():
    config = expanded(study_with({"mse": {"terms": [{"name": "mse"}]}, "l1+ssim": TUNED}))
    names = list(config["losses"])
    assert names == [
        "mse",
        "l1+ssim.lr=0.001.ssim=0",
        "l1+ssim.lr=0.001.ssim=0.5",
        "l1+ssim.lr=0.003.ssim=0",
        "l1+ssim.lr=0.003.ssim=0.5",
    ]
    point = config["losses"]["l1+ssim.lr=0.003.ssim=0"]
    assert point["training"] == {"lr": 0.003}
    assert [t["weight"] for t in point["terms"]] == [1.0, 0]  # l1 keeps its weight, ssim's is the point's
    assert point["tuned"] == {"loss": "l1+ssim", "values": {"lr": 0.003, "ssim": 0}, "select_by": "psnr_y"}
    assert "tune" not in point and config["losses"]["mse"] == {"terms": [{"name": "mse", "weight": 1.0}]}


def test_a_grid_point_overrides_only_the_learning_rate_of_the_loss_own_training():
    loss = {"terms": [{"name": "l1"}], "training": {"steps": 4}, "tune": {"lr": [1e-4]}}
    point = expanded(study_with({"l1": loss}))["losses"]["l1.lr=0.0001"]
    assert point["training"] == {"steps": 4, "lr": 1e-4}


def test_every_grid_point_trains_its_own_runs_with_its_own_settings():
    study = load_study_of(study_with({"l1+ssim": TUNED}))
    trained = [r for r in study.runs() if r.trained]
    assert len(trained) == 4 and all(study.is_tuned(r.loss) for r in trained)
    specs = {r.loss: study.run_spec(r) for r in trained}
    assert specs["l1+ssim.lr=0.001.ssim=0"]["training"]["lr"] == 0.001
    assert specs["l1+ssim.lr=0.003.ssim=0.5"]["terms"][1]["weight"] == 0.5
    assert "tuned" not in specs["l1+ssim.lr=0.003.ssim=0.5"]  # a run's identity is its settings


def load_study_of(config: dict):
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/study.yaml"
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        return load_study(path)


@pytest.mark.parametrize(
    ("tune", "message"),
    [
        ({}, "losses.l1+ssim.tune: nothing to tune; give `lr` and/or `weights`"),
        ({"weights": {"vgg": [1]}}, "losses.l1+ssim.tune.weights.vgg: no term of the loss is labelled 'vgg'"),
    ],
)
def test_a_grid_that_says_nothing_or_names_no_term_is_one_error_naming_the_key(tune, message):
    with pytest.raises(ConfigError, match=message.replace("+", r"\+").replace("`", "`")):
        expanded(study_with({"l1+ssim": {**TUNED, "tune": tune}}))


@pytest.mark.parametrize("tune", [{"lr": [0]}, {"lr": []}, {"weights": {"ssim": [-1]}}, {"lr": [1e-3, 1e-3]}])
def test_impossible_grid_values_are_refused_by_the_schema(tune):
    with pytest.raises(ConfigError, match=r"config key losses\.l1\+ssim\.tune"):
        expanded(study_with({"l1+ssim": {**TUNED, "tune": tune}}))


def test_a_run_cannot_start_from_a_tuned_loss():
    losses = {"l1+ssim": TUNED, "gan": {"terms": [{"name": "l1"}], "init_from": {"loss": "l1+ssim"}}}
    with pytest.raises(ConfigError, match=r"losses\.gan\.init_from\.loss: 'l1\+ssim' is tuned"):
        expanded(study_with(losses))


def test_a_grid_point_may_not_take_the_name_of_another_loss():
    losses = {"l1": {"terms": [{"name": "l1"}], "tune": {"lr": [1e-3]}}, "l1.lr=0.001": {"terms": [{"name": "l1"}]}}
    with pytest.raises(ConfigError, match=r"grid point 'l1\.lr=0\.001' has the name of another loss"):
        expanded(study_with(losses))


def test_select_by_must_be_a_column_of_the_study_metrics():
    config = study_with({"l1+ssim": {**TUNED, "tune": {"lr": [1e-3], "select_by": "lpips_alex"}}})
    with pytest.raises(ConfigError, match=r"losses\.l1\+ssim\.tune\.select_by: 'lpips_alex' is no column"):
        load_study_of(config)


def test_the_reference_may_be_a_tuned_loss_by_its_own_name():
    config = study_with({"mse": {"terms": [{"name": "mse"}]}, "l1+ssim": TUNED}, reference="l1+ssim")
    assert load_study_of(config).config["evaluation"]["reference"] == "l1+ssim"


# --- the selection ----------------------------------------------------------------------------

POINTS = {
    "a.lr=1": {"loss": "a", "values": {"lr": 1.0}, "select_by": "psnr_y"},
    "a.lr=2": {"loss": "a", "values": {"lr": 2.0}, "select_by": "psnr_y"},
    "a.lr=3": {"loss": "a", "values": {"lr": 3.0}, "select_by": "psnr_y"},
}


def validation(values: dict[str, list[list[float]]], status: dict[str, str] | None = None) -> pd.DataFrame:
    """Validation rows: point -> per seed, per image PSNR-Y."""
    rows = []
    for point, seeds in values.items():
        for seed, images in enumerate(seeds):
            for i, v in enumerate(images):
                ids = {"dataset": "d", "model": "m", "scale": 2, "loss": point, "seed": seed, "image": f"v{i}"}
                rows.append({**ids, "psnr_y": v, "status": (status or {}).get(point, "completed")})
    return pd.DataFrame(rows)


def test_the_point_with_the_best_mean_over_seeds_is_selected():
    val = validation({"a.lr=1": [[20, 20], [20, 20]], "a.lr=2": [[21, 23], [21, 21]], "a.lr=3": [[30, 10], [19, 19]]})
    table = select(val, POINTS)
    assert table["val_mean"].tolist() == [20.0, 21.5, 19.5]
    assert table.loc[table["selected"], "point"].tolist() == ["a.lr=2"]
    assert table["n_seeds"].tolist() == [2, 2, 2] and table["lr"].tolist() == [1.0, 2.0, 3.0]


def test_a_lower_is_better_column_selects_the_smallest_and_ties_go_to_the_first_point():
    points = {name: {**p, "select_by": "mse"} for name, p in POINTS.items()}
    val = validation({"a.lr=1": [[5.0]], "a.lr=2": [[3.0]], "a.lr=3": [[3.0]]}).rename(columns={"psnr_y": "mse"})
    assert select(val, points).loc[lambda t: t["selected"], "point"].tolist() == ["a.lr=2"]


def test_an_unhealthy_point_is_never_selected():
    val = validation({"a.lr=1": [[20.0]], "a.lr=2": [[40.0]], "a.lr=3": [[25.0]]}, status={"a.lr=2": "diverged"})
    table = select(val, POINTS)
    assert table.loc[table["selected"], "point"].tolist() == ["a.lr=3"]
    assert table["healthy"].tolist() == [True, False, True]


def per_image_of(points: list[str], extra: str = "") -> pd.DataFrame:
    rows = []
    for point in [*points, "b"]:
        run_dir = f"results/s/runs/d/m/{point}/x2/seed0"
        rows.append(
            {
                "dataset": "d",
                "test_set": "d",
                "model": "m",
                "loss": point + extra,
                "scale": 2,
                "seed": 0,
                "image": "t0",
                "psnr_y": 1.0,
                "run_dir": run_dir,
            }
        )
    return pd.DataFrame(rows)


def test_only_the_selected_point_stays_under_its_loss_name():
    table = select(validation({"a.lr=1": [[20.0]], "a.lr=2": [[40.0]], "a.lr=3": [[25.0]]}), POINTS)
    kept = apply_selection(per_image_of(list(POINTS), " [random backbone]"), table, POINTS)
    assert kept["loss"].tolist() == ["a [random backbone]", "b [random backbone]"]
    assert kept["run_dir"].tolist()[0].endswith("/a.lr=2/x2/seed0")
    assert selection_notes(table, "d", "m", 2) == [
        "a: tuned on the validation split (lr=2 selected of 3 grid points by psnr_y, mean over 1 seed(s)); "
        "tables/tuning.csv lists every point"
    ]


# --- the workflow -----------------------------------------------------------------------------


def test_a_tuned_study_selects_on_validation_and_draws_the_curve(tmp_path):
    losses = {
        "mse": {"terms": [{"name": "mse"}]},
        "l1+ssim": {**TUNED, "tune": {"lr": [1e-3, 3e-3], "weights": {"ssim": [0, 2]}}},
    }
    config = study_with(
        losses, metrics=["psnr_y", "ssim_y", "lpips"], lpips={"nets": ["alex"], "random_backbone": True}, steps=[1]
    )
    config["seeds"] = [0, 1]
    done = run_snakemake(tmp_path, "--cores", "2", config=config, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results/tune"
    table = pd.read_csv(results / "tables/tuning.csv")
    assert len(table) == 4 and table["selected"].sum() == 1 and set(table["n_seeds"]) == {2}
    # the selection follows the validation metrics and nothing else
    val = pd.concat(
        pd.read_csv(p).assign(point=p.parents[3].name)
        for p in (results / "runs/photos/espcn").glob("l1+ssim.*/x2/seed*/val/metrics.csv")
    )
    means = val.groupby(["point", "seed"])["psnr_y"].mean().groupby("point").mean()
    assert table.loc[table["selected"], "point"].item() == means.idxmax()
    assert np.allclose(table.set_index("point")["val_mean"].sort_index(), means.sort_index())
    # the tables rank the selected point under the loss's own name and say what was selected
    per_image = pd.read_csv(results / "tables/per_image.csv")
    assert set(per_image["loss"]) == {"mse", "l1+ssim", "none"}
    chosen = table.loc[table["selected"]].iloc[0]
    own = per_image[per_image["loss"] == "l1+ssim"]
    test_metrics = pd.read_csv(results / f"runs/photos/espcn/{chosen['point']}/x2/seed0/metrics.csv")
    assert own[own["seed"] == 0]["psnr_y"].tolist() == pytest.approx(test_metrics["psnr_y"].tolist())
    assert "l1+ssim: tuned on the validation split (lr=" in (results / "tables/photos/espcn_x2.md").read_text()
    # the figure: every point's validation score, the perception-distortion curve over the ssim weight
    assert (results / "figures/tuning.png").stat().st_size > 10_000
    assert (results / "figures/tuning.pdf").is_file()
    # the budget curves follow the same selected point, under the loss's own name
    budget = pd.read_csv(results / "tables/budget.csv").query("metric == 'psnr_y' and step == 1")
    assert set(budget["loss"]) == {"mse", "l1+ssim"}
    step = pd.read_csv(results / f"runs/photos/espcn/{chosen['point']}/x2/seed0/steps/1/metrics.csv")
    own = budget[(budget["loss"] == "l1+ssim") & (budget["seed"] == 0)]
    assert own["value"].item() == pytest.approx(step["psnr_y"].mean())


def test_the_curve_joins_one_point_per_swept_weight_in_weight_order():
    from srloss.report.selection import plot_tuning

    points = {
        f"a.lr={lr}.t={w}": {"loss": "a", "values": {"lr": lr, "t": w}, "select_by": "psnr_y"}
        for lr in (1, 2)
        for w in (0, 1, 4)
    }
    val_rows, test_rows = [], []
    for i, (name, entry) in enumerate(points.items()):
        ids = {"dataset": "d", "model": "m", "scale": 2, "loss": name, "seed": 0, "status": "completed"}
        val_rows.append({**ids, "image": "v", "psnr_y": 30 - i if entry["values"]["lr"] == 1 else 0.0})
        run_dir = f"results/s/runs/d/m/{name}/x2/seed0"
        w = entry["values"]["t"]
        test_rows.append(
            {**ids, "test_set": "d", "image": "t", "psnr_y": 30 - w, "lpips_alex": 0.5 - w / 10, "run_dir": run_dir}
        )
    table = select(pd.DataFrame(val_rows), points)
    fig = plot_tuning(table, pd.DataFrame(test_rows))
    curve = [line for line in fig.axes[1].get_lines() if line.get_label().startswith("a")]
    assert len(curve) == 1 and curve[0].get_label() == "a (t)"
    assert list(curve[0].get_xdata()) == [30, 29, 26] and list(curve[0].get_ydata()) == pytest.approx([0.5, 0.4, 0.1])
    plt.close(fig)


def test_srloss_check_names_each_tuned_loss_and_plans_its_validation_jobs(tmp_path, capsys):
    import yaml

    from srloss.cli import main

    config = study_with({"mse": {"terms": [{"name": "mse"}]}, "l1+ssim": TUNED})
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    assert main(["check", str(tmp_path / "study.yaml")]) == 0
    out = capsys.readouterr().out
    assert "tuned: l1+ssim: 4 grid points, selected on the validation split by psnr_y" in out
    assert "evaluate_val 4" in out and "train 5" in out
