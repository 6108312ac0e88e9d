"""End to end with the real snakemake CLI: a GAN run pre-trained by another run, and a diverging
run that is marked in the summary while the rest of the grid completes."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

STUDY = {
    "study": "gan",
    "datasets": {"photos": {"source": "skimage", "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
                            "patch_size": 32, "stride": 32}},
    "models": {"espcn": {"arch": "espcn", "options": {"residual": True}}},
    "losses": {
        "mse": {"terms": [{"name": "mse"}]},
        # float32 overflows: the loss is inf at the first step, like a run whose weights blew up
        "exploding": {"terms": [{"name": "mse", "weight": 1.0e39}]},
        "gan": {"init_from": {"loss": "mse"},
                "terms": [{"name": "l1"}, {"name": "adversarial", "weight": 0.01, "kind": "hinge", "discriminator": "unet",
                                           "discriminator_options": {"channels": 4}}]},
    },
    "scales": [2],
    "training": {"steps": 20, "batch_size": 4, "val_every": 10, "threads": 1, "discriminator": {"lr": 1.0e-4, "betas": [0.0, 0.9]}},
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", "study.yaml", *args],
                          capture_output=True, text=True, cwd=workdir, timeout=900, env=env)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gan")
    (workdir / "study.yaml").write_text(yaml.safe_dump(STUDY))
    plan = snakemake(workdir, "-n", "--cores", "1")
    assert plan.returncode == 0, plan.stderr[-3000:]
    result = snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
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
    runs = workdir / "results/gan/runs/photos/espcn"
    pretrained = "results/gan/runs/photos/espcn/mse/x2/seed0/model.pt"
    # the GAN's train job lists the pre-training run's model among its inputs, so Snakemake orders them
    gan_job = plan.split("output: results/gan/runs/photos/espcn/gan/x2/seed0/model.pt")[0].rsplit("rule train:", 1)[1]
    assert pretrained in gan_job
    record = json.loads((runs / "gan/x2/seed0/run.json").read_text())
    assert record["init_weights"]["path"] == pretrained and record["spec"]["init_from"] == {"loss": "mse"}
    history = pd.read_csv(runs / "gan/x2/seed0/history.csv")
    assert {"adversarial", "d_loss", "d_real", "d_fake"} <= set(history.columns) and len(history) == 20
    assert not (runs / "gan/x2/seed0/checkpoint.pt").exists()
    assert (runs / "gan/x2/seed0/model_best.pt").exists()
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(workdir, "-n", "--cores", "1"))


@pytest.mark.integration
def test_preempted_training_job_is_retried_and_resumes(tmp_path):
    """SIGTERM to a running train job: it checkpoints and fails, Snakemake retries it (retries: 1),
    and the retry resumes from checkpoint.pt, which Snakemake left alone (it is not an output)."""
    import os
    import re
    import signal
    import time

    study = {**STUDY, "study": "preempt", "losses": {"mse": STUDY["losses"]["mse"]},
             "training": {"steps": 200, "batch_size": 4, "val_every": 20, "checkpoint_every": 1000, "threads": 1}}
    run_dir = "results/preempt/runs/photos/espcn/mse/x2/seed0"
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with open(tmp_path / "snakemake.out", "w") as out:
        proc = subprocess.Popen([SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile", "study.yaml", "--cores", "1",
                                 f"{run_dir}/model.pt"],  # the train job only
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
        log = tmp_path / "results/preempt/logs/train/photos/espcn/mse/x2/seed0.log"
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            text = log.read_text() if log.exists() else ""
            if "step 40:" in text:
                os.kill(int(re.search(r"pid (\d+);", text).group(1)), signal.SIGTERM)
                break
            time.sleep(0.05)
        else:
            proc.kill()
            pytest.fail("the training job never reached step 40: " + (tmp_path / "snakemake.out").read_text()[-3000:])
        assert proc.wait(timeout=600) == 0, (tmp_path / "snakemake.out").read_text()[-3000:]
    record = json.loads((tmp_path / run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["steps_done"] == 200
    assert len(record["resumed_from_steps"]) == 1 and 40 <= record["resumed_from_steps"][0] < 200
    assert "resumed from" in log.read_text()
    assert not (tmp_path / run_dir / "checkpoint.pt").exists()
    assert "Trying to restart job" in (tmp_path / "snakemake.out").read_text()
