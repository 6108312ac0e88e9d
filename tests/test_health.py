"""Run health: each class from hand-made histories, and from real short training runs."""

import pytest
import torch
from test_training import DATASET, outputs, study_config

from srloss.data.prepare import prepare
from srloss.health import Thresholds, classify
from srloss.models.base import build_model
from srloss.study import Run, Study
from srloss.training.loop import seed_everything, train


def rows(*values: tuple) -> list[dict]:
    """History rows from (step, loss, val_psnr_y); None = not logged at that step."""
    return [
        {"step": s, "loss": "" if loss is None else loss, "val_psnr_y": "" if val is None else val}
        for s, loss, val in values
    ]


LEARNING = rows((0, None, 30.0), (50, 0.02, None), (100, 0.01, 30.4))


def test_a_learning_run_is_completed():
    health = classify(LEARNING, 30.0, True, initial_loss=0.03)
    assert health.status == "completed" and health.numbers["largest_val_change_db"] == pytest.approx(0.4)
    assert health.as_record()["status"] == "completed" and "30.00 to 30.40 dB" in health.detail


def test_divergence_wins_over_everything():
    health = classify(LEARNING, 30.0, False, diverged_at=73)
    assert health.status == "diverged at step 73" and health.word == "diverged" and health.numbers["diverged_at"] == 73


def test_unchanged_weights_are_untrained_even_if_validation_moved():
    assert classify(LEARNING, 30.0, False).status == "untrained"


@pytest.mark.parametrize(
    "history, start",
    [
        (rows((0, None, 30.0), (50, 0.5, None), (100, 0.6, 29.0)), 50),  # 0.5 > 0.03 + 9 * 0.03
        # only the end counts
        (rows((0, None, 30.0), (50, 5.0, None), (100, 0.02, None), (150, 4.0, None), (200, 9.0, 29.0)), 150),
    ],
)
def test_a_loss_far_above_its_start_at_the_end_is_a_runaway(history, start):
    health = classify(history, 30.0, True, initial_loss=0.03)
    assert health.status == f"runaway at step {start}" and health.numbers["runaway_from"] == start


def test_a_spike_the_run_recovered_from_is_not_a_runaway():
    history = rows((0, None, 30.0), (50, 5.0, None), (100, 0.02, 30.3))
    assert classify(history, 30.0, True, initial_loss=0.03).status == "completed"


def test_the_margin_keeps_a_tiny_start_from_making_a_runaway():
    history = rows((0, None, 30.0), (50, 0.006, None), (100, 0.006, 30.3))  # 12x the start, but +0.0055 < 0.01
    assert classify(history, 30.0, True, initial_loss=0.0005).status == "completed"
    smaller_margin = Thresholds(runaway_loss_margin=0.001)
    assert classify(history, 30.0, True, initial_loss=0.0005, thresholds=smaller_margin).word == "runaway"


def test_validation_collapsing_below_its_start_is_a_runaway():
    history = rows((0, None, 30.0), (50, 0.02, 26.0), (100, 0.02, 24.9))  # the loss looks fine; PSNR-Y fell 5.1 dB
    health = classify(history, 30.0, True, initial_loss=0.02)
    assert health.status == "runaway at step 100" and "more than 5 dB below its start" in health.detail
    # 4.5 dB below the start: a GAN may end there
    assert classify(rows((0, None, 30.0), (100, 0.02, 25.5)), 30.0, True).status == "completed"


def test_validation_that_never_leaves_its_start_is_stalled():
    history = rows((0, None, 30.0), (50, 0.02, 30.04), (100, 0.02, 29.96))
    health = classify(history, 30.0, True, initial_loss=0.02)
    assert health.status == "stalled" and health.numbers["largest_val_change_db"] == pytest.approx(0.04)
    assert classify(rows((0, None, 30.0), (100, 0.02, 30.06)), 30.0, True).status == "completed"


# ----- real runs: a residual ESPCN starts at the bicubic baseline; a plain one from scratch ------------------


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    paths = {split: root / f"{split}.h5" for split in ("train", "val", "test")}
    prepare(DATASET, 2, paths)
    return paths


def spec_for(terms: list[dict], training: dict, residual: bool) -> dict:
    config = study_config({"loss": {"terms": terms}}, {"val_every": 5, **training})
    config["models"]["g"]["options"] = {"residual": residual}
    return Study(config).run_spec(Run("p", "g", "loss", 2, 0))


RUNS = {
    # float32 overflows: the loss is inf at the first step
    "diverged": ([{"name": "mse", "weight": 1.0e39}], {"steps": 5}, True, "diverged at step 1"),
    # Adam steps of size ~10: the outputs blow up, the loss stays finite
    "runaway": ([{"name": "mse"}], {"steps": 20, "lr": 10.0}, False, "runaway at step 5"),
    # updates of 1e-9 change some weights but not the outputs
    "stalled": ([{"name": "mse"}], {"steps": 10, "lr": 1.0e-9}, True, "stalled"),
    # g^2 overflows Adam's second moment: every update m / sqrt(v) is exactly 0, the loss stays finite
    "untrained": ([{"name": "mse", "weight": 1.0e38}], {"steps": 5}, True, "untrained"),
    "completed": ([{"name": "mse"}], {"steps": 20, "lr": 1.0e-3}, False, "completed"),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_real_runs_are_classified(shards, tmp_path, name):
    terms, training, residual, expected = RUNS[name]
    spec = spec_for(terms, training, residual)
    record = train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"log_every": 5})
    assert record["status"] == expected, record["health"]
    assert record["health"]["status"] == expected.split()[0] and record["health"]["detail"]
    assert record["initial_val_psnr_y"] == record["health"]["initial_val_psnr_y"] is not None
    if name in ("stalled", "untrained"):  # weights: the test's own reading of model.pt against a fresh model
        seed_everything(0)
        fresh = build_model("espcn", 2, {"residual": True}).state_dict()
        final = torch.load(tmp_path / "model.pt", weights_only=True)
        same = all(torch.equal(fresh[k], final[k]) for k in fresh)
        assert same == (name == "untrained")
        assert record["health"]["weights_changed"] == (name == "stalled")
