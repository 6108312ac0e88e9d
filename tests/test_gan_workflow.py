"""End to end with the real snakemake CLI, one small grid:

* a GAN run pre-trained by another run (``init_from``), so Snakemake must order the jobs;
* a diverging run, marked in the summary while the rest of the grid completes;
* a training job preempted with SIGTERM midway: it checkpoints and fails, Snakemake retries it
  (``retries: 1``), and the retry resumes from ``checkpoint.pt``, which Snakemake left alone
  because it is not a declared output.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_runner import snakemake_command, test_env

REPO = Path(__file__).resolve().parents[1]
RUNS = "results/gan/runs/photos/espcn"

STUDY = {
    "study": "gan",
    "datasets": {
        "photos": {
            "source": "skimage",
            "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
            "patch_size": 32,
            "stride": 32,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"residual": True}}},
    "losses": {
        "mse": {"terms": [{"name": "mse"}]},
        # float32 overflows: the loss is inf at the first step, like a run whose weights blew up
        "exploding": {"terms": [{"name": "mse", "weight": 1.0e39}]},
        "gan": {
            "init_from": {"loss": "mse"},
            "terms": [
                {"name": "l1"},
                {
                    "name": "adversarial",
                    "weight": 0.01,
                    "kind": "hinge",
                    "discriminator": "unet",
                    "discriminator_options": {"channels": 4},
                },
            ],
        },
    },
    "scales": [2],
    "training": {
        "steps": 100,
        "batch_size": 4,
        "val_every": 20,
        "checkpoint_every": 1000,
        "threads": 1,
        "discriminator": {"lr": 1.0e-4, "betas": [0.0, 0.9]},
    },
}


ENV = test_env()


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gan")
    (workdir / "study.yaml").write_text(yaml.safe_dump(STUDY))
    plan = subprocess.run(
        snakemake_command(workdir, "-n", "--cores", "1"),
        capture_output=True,
        text=True,
        cwd=workdir,
        env=ENV,
        timeout=300,
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    output = workdir / "snakemake.out"
    with open(output, "w") as out:
        proc = subprocess.Popen(
            snakemake_command(workdir, "--cores", "2"), stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=ENV
        )
        log = workdir / "results/gan/logs/train/photos/espcn/mse/x2/seed0.log"
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:  # preempt the mse run once it is under way
            text = log.read_text() if log.exists() else ""
            if "step 40/" in text:  # the progress line of step 40 (a validation step)
                os.kill(int(re.search(r"pid (\d+);", text).group(1)), signal.SIGTERM)
                break
            time.sleep(0.05)
        else:
            proc.kill()
            pytest.fail("the mse training job never reached step 40: " + output.read_text()[-3000:])
        assert proc.wait(timeout=900) == 0, output.read_text()[-3000:]
    return workdir, plan.stdout


@pytest.mark.integration
def test_divergence_is_marked_and_the_grid_completes(gan_run):
    workdir, _ = gan_run
    summary = pd.read_csv(workdir / "results/gan/tables/summary.csv").set_index("loss")
    assert summary.loc["exploding", "status"] == "diverged at step 1"
    assert summary.loc["mse", "status"] == "completed" and summary.loc["gan", "status"] == "completed"
    assert summary.loc["none", "status"] == "baseline"
    assert "diverged at step 1" in (workdir / "results/gan/tables/summary.md").read_text()


@pytest.mark.integration
def test_gan_run_starts_from_the_pretrained_run(gan_run):
    workdir, plan = gan_run
    pretrained = f"{RUNS}/mse/x2/seed0/model.pt"
    # the GAN's train job lists the pre-training run's model among its inputs, so Snakemake orders them
    gan_job = plan.split(f"output: {RUNS}/gan/x2/seed0/model.pt")[0].rsplit("rule train:", 1)[1]
    assert pretrained in gan_job
    record = json.loads((workdir / RUNS / "gan/x2/seed0/run.json").read_text())
    assert record["init_weights"]["path"] == pretrained and record["spec"]["init_from"] == {"loss": "mse"}
    assert record["init_weights"]["status"] == "completed"
    history = pd.read_csv(workdir / RUNS / "gan/x2/seed0/history.csv")
    assert {"adversarial", "d_loss", "d_real", "d_fake"} <= set(history.columns)
    # before training, every logging window (log_every 50) and every validation (val_every 20)
    assert history["step"].tolist() == [0, 20, 40, 50, 60, 80, 100] and history["d_loss"].iloc[1:].notna().all()
    assert (workdir / RUNS / "gan/x2/seed0/model_best.pt").exists()
    again = subprocess.run(
        snakemake_command(workdir, "-n", "--cores", "1"),
        capture_output=True,
        text=True,
        cwd=workdir,
        env=ENV,
        timeout=300,
    )
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.integration
def test_preempted_training_job_is_retried_and_resumes(gan_run):
    workdir, _ = gan_run
    record = json.loads((workdir / RUNS / "mse/x2/seed0/run.json").read_text())
    assert record["status"] == "completed" and record["steps_done"] == 100
    assert len(record["resumed_from_steps"]) == 1 and 40 <= record["resumed_from_steps"][0] < 100
    assert "Trying to restart job" in (workdir / "snakemake.out").read_text()  # retries: 1
    assert "resumed from" in (workdir / "results/gan/logs/train/photos/espcn/mse/x2/seed0.log").read_text()
    for loss in ("mse", "gan", "exploding"):
        assert not (workdir / RUNS / loss / "x2/seed0/checkpoint.pt").exists()  # removed after the run
