"""End to end: the real snakemake CLI runs a tiny study in a temporary folder."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from workflow_runner import run_snakemake

REPO = Path(__file__).resolve().parents[1]

TINY = {
    "study": "tiny",
    "datasets": {
        "photos": {
            "source": "skimage",
            "splits": {"train": ["chelsea", "rocket"], "val": ["coffee"], "test": ["astronaut"]},
            "patch_size": 32,
            "stride": 32,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"residual": True}}},
    "losses": {
        "mse": {"terms": [{"name": "mse"}]},
        "l1+charb": {"terms": [{"name": "l1", "weight": 0.5}, {"name": "charbonnier", "weight": 0.5, "eps": 1e-3}]},
    },
    "scales": [2],
    "seeds": [0],
    "training": {"steps": 150, "batch_size": 16, "lr": 1e-3, "val_every": 50, "threads": 1, "log_every": 5},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    (workdir / "study.yaml").write_text(yaml.safe_dump(TINY))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.mark.integration
def test_outputs_exist_and_are_sane(tiny_run):
    root = tiny_run / "results/tiny"
    for split in ("train", "val", "test"):
        assert (root / f"data/photos/x2/{split}.h5").stat().st_size > 0
    summary = pd.read_csv(root / "tables/summary.csv")
    assert set(zip(summary["model"], summary["loss"])) == {("bicubic", "none"), ("espcn", "mse"), ("espcn", "l1+charb")}
    assert (summary["n_images"] == 1).all()
    assert "PSNR Y (dB, BT.601, border=scale)" in (root / "tables/summary.md").read_text()
    assert (root / "figures/psnr_ssim.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    per_image = pd.read_csv(root / "tables/per_image.csv")
    assert len(per_image) == 3 and set(per_image["image"]) == {"astronaut"}

    run = root / "runs/photos/espcn/l1+charb/x2/seed0"
    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == ["step", "loss", "l1", "charbonnier", "val_psnr_y"]
    # one row before training (validation only), then one per log window of 5 steps (window means)
    assert history["step"].tolist() == list(range(0, 151, 5))
    assert history["loss"].iloc[1:5].mean() > history["loss"].tail(4).mean()  # it learned something
    state = torch.load(run / "model.pt", weights_only=True)
    assert "body.0.weight" in state
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["spec"]["seed"] == 0
    assert record["provenance"]["packages"]["torch"] and "git_commit" in record["provenance"]["code"]
    provenance = json.loads((root / "tables/provenance.json").read_text())
    assert provenance["config"]["training"]["steps"] == 150
    for rule in ("prepare", "train", "evaluate"):
        assert list((root / "logs" / rule).rglob("*.log")) and list((root / "benchmarks" / rule).rglob("*.tsv"))


@pytest.mark.integration
def test_trained_espcn_beats_bicubic(tiny_run):
    summary = pd.read_csv(tiny_run / "results/tiny/tables/summary.csv").set_index("loss")
    assert summary.loc["mse", "psnr_y"] > summary.loc["none", "psnr_y"]


@pytest.mark.integration
def test_second_run_plans_nothing(tiny_run):
    result = run_snakemake(tiny_run, "--cores", "2", "-n")
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr
