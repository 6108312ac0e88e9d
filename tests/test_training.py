"""The training loop: GAN training, divergence, init_from, schedules, and bit-exact resume after SIGTERM."""

import copy
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from srloss.data.prepare import prepare
from srloss.evaluation.measure import evaluate
from srloss.losses.composite import build_loss
from srloss.models.base import build_model
from srloss.report.aggregate import summarise
from srloss.study import ConfigError, Run, Study, check_schema
from srloss.training.checkpoint import PreemptionSignals
from srloss.training.loop import seed_everything, total_steps, train
from srloss.training.schedules import lr_factor
from srloss.training.settings import TrainingConfig

REPO = Path(__file__).resolve().parents[1]
DATASET = {
    "source": "skimage",
    "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
    "patch_size": 32,
    "stride": 32,
}
SMALL_D = {"channels": 8, "stages": 2, "norm": "none"}


def study_config(losses: dict, training: dict, arch: str = "espcn") -> dict:
    config = {
        "study": "t",
        "datasets": {"p": copy.deepcopy(DATASET)},
        "models": {"g": {"arch": arch}},
        "losses": losses,
        "scales": [2],
        "training": {"batch_size": 4, "val_every": 10, **training},
    }
    check_schema(config)
    return config


def run_spec(losses: dict, training: dict, loss: str, arch: str = "espcn") -> dict:
    return Study(study_config(losses, training, arch)).run_spec(Run("p", "g", loss, 2, 0))


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    paths = {split: root / f"{split}.h5" for split in ("train", "val", "test")}
    prepare(DATASET, 2, paths)
    return paths


def outputs(run_dir: Path) -> dict:
    return {
        "model_out": run_dir / "model.pt",
        "history_out": run_dir / "history.csv",
        "record_out": run_dir / "run.json",
        "best_out": run_dir / "model_best.pt",
        "checkpoint_path": run_dir / "checkpoint.pt",
    }


def test_gan_training_updates_generator_and_discriminator(shards, tmp_path):
    losses = {
        "gan": {
            "terms": [
                {"name": "mse"},
                {"name": "adversarial", "weight": 0.01, "kind": "ragan", "discriminator_options": SMALL_D},
            ]
        }
    }
    spec = run_spec(losses, {"steps": 6, "discriminator": {"lr": 1e-3, "betas": [0.0, 0.9], "steps_per_g": 2}}, "gan")
    record = train(
        spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"keep_checkpoint": True, "log_every": 1}
    )
    assert record["status"] == "completed" and record["discriminator_parameters"] > 0
    assert not (tmp_path / "progress.json").exists()  # the heartbeat is removed when the run finishes

    # the networks as they were initialised, rebuilt the way train() builds them
    seed_everything(0)
    g0 = build_model("espcn", 2, {})
    d0 = build_loss(spec["terms"]).terms[1].discriminator
    final = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # kept: the final state with both optimisers
    assert final["step"] == 6
    assert any(not torch.equal(g0.state_dict()[k], v) for k, v in final["model"].items())
    assert any(not torch.equal(d0.state_dict()[k], v) for k, v in final["discriminator"].items())
    assert torch.equal(
        torch.load(tmp_path / "model.pt", weights_only=True)["body.0.weight"], final["model"]["body.0.weight"]
    )
    g_steps = {int(s["step"]) for s in final["optimizer"]["state"].values()}
    d_steps = {int(s["step"]) for s in final["d_optimizer"]["state"].values()}
    assert g_steps == {6} and d_steps == {12}  # steps_per_g = 2
    assert final["d_optimizer"]["param_groups"][0]["betas"] == (0.0, 0.9)

    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == ["step", "loss", "mse", "adversarial", "d_loss", "d_real", "d_fake", "val_psnr_y"]
    steps = history[history["step"] > 0]  # step 0: the validation before training
    assert steps["d_loss"].notna().all() and len(steps) == 6  # log_every 1: one row per step


def test_a_wgan_terms_critic_steps_and_clip_override_the_training_section(shards, tmp_path):
    """One study trains RaGAN 1:1 and clipped WGAN 5:1 (Arjovsky et al.): the term's values win."""
    term = {"name": "adversarial", "weight": 0.01, "kind": "wgan", "discriminator_options": SMALL_D}
    losses = {"wgan": {"terms": [{"name": "mse"}, {**term, "steps_per_g": 3, "clip": 0.005}]}}
    spec = run_spec(losses, {"steps": 4, "discriminator": {"lr": 1e-2, "steps_per_g": 1, "clip": 0.5}}, "wgan")
    train(spec, shards["train"], shards["val"], **outputs(tmp_path), execution={"keep_checkpoint": True})
    final = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert {int(s["step"]) for s in final["d_optimizer"]["state"].values()} == {12}  # 4 generator steps x 3
    largest = max(float(v.abs().max()) for k, v in final["discriminator"].items() if k.endswith("weight"))
    assert largest <= 0.005 + 1e-9  # the term's bound, not training.discriminator.clip (0.5)


def test_divergence_marks_the_run_and_the_summary(shards, tmp_path):
    spec = run_spec({"mse": {"terms": [{"name": "mse"}]}}, {"steps": 30, "lr": 1.0e6}, "mse", arch="srcnn")
    record = train(spec, shards["train"], shards["val"], **outputs(tmp_path / "run"), execution={"log_every": 1})
    assert record["status"].startswith("diverged at step ")
    step = int(record["status"].rsplit(" ", 1)[1])
    assert 1 < step < 30 and record["steps_done"] == step - 1  # log_every 1: the weights of the step before
    history = pd.read_csv(tmp_path / "run/history.csv")
    assert len(history[history["step"] > 0]) == step - 1
    assert (tmp_path / "run/model.pt").exists() and (tmp_path / "run/model_best.pt").exists()
    table = evaluate(
        spec, tmp_path / "run/model.pt", shards["test"], tmp_path / "run/metrics.csv", tmp_path / "run/eval.json"
    )
    summary = summarise(table)
    assert summary["status"].tolist() == [record["status"]]


def test_init_weights_start_from_another_run(shards, tmp_path):
    losses = {
        "psnr": {"terms": [{"name": "mse"}]},
        "gan": {
            "init_from": {"loss": "psnr"},
            "terms": [{"name": "mse"}, {"name": "adversarial", "weight": 1e-3, "discriminator_options": SMALL_D}],
        },
    }
    train(run_spec(losses, {"steps": 5}, "psnr"), shards["train"], shards["val"], **outputs(tmp_path / "psnr"))
    spec = run_spec(losses, {"steps": 1, "lr": 1e-12, "deterministic": True}, "gan")
    assert spec["init_from"] == {"loss": "psnr"}
    record = train(
        spec, shards["train"], shards["val"], **outputs(tmp_path / "gan"), init_weights=tmp_path / "psnr/model.pt"
    )
    assert record["device"]["deterministic"] and not torch.are_deterministic_algorithms_enabled()  # restored afterwards
    pre = torch.load(tmp_path / "psnr/model.pt", weights_only=True)
    post = torch.load(tmp_path / "gan/model.pt", weights_only=True)
    assert all(torch.allclose(pre[k], post[k], atol=1e-9) for k in pre)
    assert record["init_weights"]["sha256"] and record["steps_done"] == 1
    assert record["status"] == "stalled"  # lr 1e-12 keeps the pre-trained weights: health says the run learned nothing


def test_total_steps_and_schedules():
    cfg = TrainingConfig.from_dict
    assert total_steps(cfg({"steps": 7}), 100) == 7
    assert total_steps(cfg({"steps": 7, "epochs": 3, "steps_per_epoch": 500, "batch_size": 4}), 100) == 1500
    assert (
        total_steps(cfg({"steps": 7, "epochs": 2, "steps_per_epoch": None, "batch_size": 16}), 100) == 2 * 7
    )  # ceil(100 / 16)
    assert [lr_factor({"name": "step", "step_size": 2, "gamma": 0.1}, s, 10) for s in (1, 2, 3, 5)] == pytest.approx(
        [1, 1, 0.1, 0.01]
    )
    assert [lr_factor({"name": "multistep", "milestones": [3, 5]}, s, 10) for s in (1, 3, 4, 6)] == [1, 1, 0.5, 0.25]
    assert lr_factor({"name": "cosine"}, 1, 11) == 1.0 and lr_factor({"name": "cosine"}, 6, 11) == pytest.approx(0.5)
    assert lr_factor({"name": "cosine", "min_factor": 0.1}, 11, 11) == pytest.approx(0.1)
    assert (
        lr_factor({"name": "none", "warmup": 4}, 1, 10) == 0.25
        and lr_factor({"name": "none", "warmup": 4}, 5, 10) == 1.0
    )


@pytest.mark.parametrize(
    "losses, training, message",
    [
        (
            {"gan": {"init_from": {"loss": "psnrr"}, "terms": [{"name": "mse"}]}, "psnr": {"terms": [{"name": "mse"}]}},
            {},
            "losses.gan.init_from.loss: unknown loss 'psnrr'; valid choices: psnr",
        ),
        (
            {
                "a": {"init_from": {"loss": "b"}, "terms": [{"name": "mse"}]},
                "b": {"init_from": {"loss": "a"}, "terms": [{"name": "mse"}]},
            },
            {},
            "initialisation cycle a -> b -> a",
        ),
        (
            {"g": {"terms": [{"name": "adversarial", "kind": "lsgan"}]}},
            {},
            "losses.g.terms[0].kind: unknown adversarial loss 'lsgan'; valid choices: standard, ragan, wgan, "
            "wgan_gp, hinge",
        ),
        (
            {"g": {"terms": [{"name": "adversarial", "discriminator": "patch"}]}},
            {},
            "losses.g.terms[0].discriminator: unknown discriminator 'patch'; valid choices: unet, vgg",
        ),
        (
            {
                "g": {
                    "terms": [{"name": "adversarial", "discriminator": "unet", "discriminator_options": {"stages": 3}}]
                }
            },
            {},
            "losses.g.terms[0].discriminator_options.stages: unknown option for UNetDiscriminatorSN; valid "
            "options: channels, skip_connection",
        ),
        (
            {"g": {"terms": [{"name": "adversarial"}, {"name": "adversarial", "kind": "hinge"}]}},
            {},
            "losses.g.terms: 2 adversarial terms",
        ),
        (
            {"g": {"terms": [{"name": "mse"}]}},
            {"steps_per_epoch": 10},
            "training.steps_per_epoch: set epochs too",
        ),
        (
            {"g": {"terms": [{"name": "mse"}]}},
            {"schedule": {"name": "step"}},
            "training.schedule.step_size: required by schedule 'step'",
        ),
    ],
)
def test_config_errors_name_the_key(losses, training, message):
    with pytest.raises(ConfigError) as err:
        Study(study_config(losses, training))
    assert message in str(err.value)


def test_discriminator_settings_reach_only_gan_runs():
    losses = {"mse": {"terms": [{"name": "mse"}]}, "gan": {"terms": [{"name": "adversarial"}]}}
    study = Study(study_config(losses, {"discriminator": {"lr": 5e-5}}))
    assert "discriminator" not in study.run_spec(Run("p", "g", "mse", 2, 0))["training"]
    assert study.run_spec(Run("p", "g", "gan", 2, 0))["training"]["discriminator"]["lr"] == 5e-5


def _cli(spec: dict, shards: dict, run_dir: Path, execution: dict) -> list[str]:
    return [
        sys.executable,
        "-m",
        "srloss.cli",
        "train",
        "--spec",
        json.dumps(spec),
        "--train-shard",
        str(shards["train"]),
        "--val-shard",
        str(shards["val"]),
        "--model",
        str(run_dir / "model.pt"),
        "--best",
        str(run_dir / "model_best.pt"),
        "--history",
        str(run_dir / "history.csv"),
        "--record",
        str(run_dir / "run.json"),
        "--checkpoint",
        str(run_dir / "checkpoint.pt"),
        "--execution",
        json.dumps(execution),
        "--threads",
        "1",
    ]


@pytest.mark.integration
def test_resume_after_sigterm_is_bitwise_identical(shards, tmp_path):
    """A real subprocess, a real SIGTERM midway, a rerun of the same command: same weights as uninterrupted."""
    losses = {
        "gan": {
            "terms": [
                {"name": "l1"},
                {"name": "adversarial", "weight": 0.01, "kind": "wgan_gp", "discriminator_options": SMALL_D},
            ]
        }
    }
    steps = 100
    spec = run_spec(losses, {"steps": steps, "val_every": 20, "discriminator": {"steps_per_g": 2}}, "gan")
    execution = {"checkpoint_every": 30, "log_every": 7}  # windows that straddle checkpoints and the preemption
    reference = train(spec, shards["train"], shards["val"], **outputs(tmp_path / "ref"), execution=execution)
    assert reference["status"] == "completed"

    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(_cli(spec, shards, run_dir, execution), stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stderr:  # wait until training is well under way, then preempt it
        lines.append(line)
        if "step 40/" in line:
            proc.send_signal(signal.SIGTERM)
            break
    lines += proc.stderr.readlines()
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM, "".join(lines)[-3000:]
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "model.pt").exists()
    heartbeat = json.loads((run_dir / "progress.json").read_text())  # left by the stopped attempt (srloss status)
    assert heartbeat["pid"] == proc.pid and heartbeat["total"] == steps
    interrupted_at = torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"]
    assert 40 <= interrupted_at < steps

    resumed = subprocess.run(
        _cli(spec, shards, run_dir, execution), capture_output=True, text=True, env=env, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at step {interrupted_at}" in resumed.stderr
    for name in ("model.pt", "model_best.pt"):
        ref = torch.load(tmp_path / "ref" / name, weights_only=True)
        got = torch.load(run_dir / name, weights_only=True)
        assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref), name
        assert (tmp_path / "ref" / name).read_bytes() == (run_dir / name).read_bytes(), name  # checksums compare
    with open(tmp_path / "ref/history.csv") as a, open(run_dir / "history.csv") as b:
        assert list(csv.reader(a)) == list(csv.reader(b))
    record = json.loads((run_dir / "run.json").read_text())
    assert record["resumed_from_steps"] == [interrupted_at] and record["status"] == "completed"
    assert not (run_dir / "checkpoint.pt").exists()  # removed after success (keep_checkpoint: false)
    assert not (run_dir / "progress.json").exists()


def test_stale_checkpoint_of_another_spec_is_ignored(shards, tmp_path):
    losses = {"mse": {"terms": [{"name": "mse"}]}}
    spec = run_spec(losses, {"steps": 20}, "mse")
    train(
        spec,
        shards["train"],
        shards["val"],
        **outputs(tmp_path / "a"),
        execution={"checkpoint_every": 5, "keep_checkpoint": True},
    )
    # a half-finished checkpoint written for lr 1e-4 must not be resumed by an lr 1e-3 run
    state = torch.load(tmp_path / "a/checkpoint.pt", weights_only=True)
    state["step"] = 10
    torch.save(state, tmp_path / "b_checkpoint.pt")
    other = run_spec(losses, {"steps": 20, "lr": 1e-3}, "mse")
    out = outputs(tmp_path / "b")
    out["checkpoint_path"] = tmp_path / "b_checkpoint.pt"
    record = train(other, shards["train"], shards["val"], **out)
    assert record["resumed_from_steps"] == [] and record["steps_done"] == 20


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_preemption_signals_are_caught_and_handlers_restored(signum):
    before = signal.getsignal(signum)
    with PreemptionSignals() as signals:
        os.kill(os.getpid(), signum)
        assert signals.received == signum
    assert signal.getsignal(signum) is before
