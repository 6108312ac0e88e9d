"""Reliability class "offline weights": with no cached VGG weights and no way to download them, the
workflow's job log names the missing file and the command that fetches it, never a bare URLError
(the real snakemake CLI; the download is pointed at a closed port on 127.0.0.1 so that the test
never reaches the internet, even on a machine that has it)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from workflow_runner import BIN, run_snakemake, test_env

from srloss.errors import EXIT_USER_ERROR

STUDY = {
    "study": "offline",
    "datasets": {
        "photos": {
            "source": "skimage",
            "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
            "patch_size": 16,
            "stride": 64,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 4}}},
    "losses": {"perceptual": {"terms": [{"name": "l1"}, {"name": "vgg", "weight": 0.01}]}},
    "scales": [2],
    "training": {"steps": 2, "batch_size": 2, "val_every": 2},
    "evaluation": {"lpips": {"random_backbone": True}},
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _offline_env(tmp_path: Path) -> dict[str, str]:
    env = test_env()
    env["TORCH_HOME"] = str(tmp_path / "empty-torch-home")
    env["SRLOSS_WEIGHTS_URL"] = f"http://127.0.0.1:{_closed_port()}/models"
    return env


@pytest.mark.integration
def test_offline_missing_vgg_weights_job_log_names_file_and_fetch_command(tmp_path):
    env = _offline_env(tmp_path)
    result = run_snakemake(tmp_path, "--cores", "1", "--keep-going", config=STUDY, env=env, timeout=600)
    assert result.returncode != 0
    weights = Path(env["TORCH_HOME"]) / "hub/checkpoints/vgg19-dcbb9e9d.pth"
    log = (tmp_path / "results/offline/logs/fetch_weight/vgg19-dcbb9e9d.pth.log").read_text()
    assert f"pretrained weights for vgg19: {weights} is missing and cannot be downloaded" in log
    assert (
        "snakemake fetch_weights --cores 1" in log
        and f"srloss fetch-weights vgg19 --torch-home {env['TORCH_HOME']}" in log
    )
    assert "Traceback" not in log and not log.startswith("URLError") and "urllib.error.URLError" not in log
    assert not (tmp_path / "results/offline/runs/photos/espcn/perceptual/x2/seed0/model.pt").exists()


def test_offline_fetch_weights_cli_is_one_line_with_exit_code_3(tmp_path):
    env = _offline_env(tmp_path)
    result = subprocess.run(
        [str(BIN / "srloss"), "fetch-weights", "vgg19"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == EXIT_USER_ERROR
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("srloss: error: pretrained weights for vgg19: ")
    assert "Connection refused" in errors[0] and "Traceback" not in result.stderr
