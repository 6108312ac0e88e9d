"""The ``srloss`` command as a person meets it: version, help, and ``srloss check``."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import srloss

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]}
STUDY = {
    "study": "x",
    "datasets": {"d": {"source": "skimage", "splits": SPLITS}},
    "models": {"m": {"arch": "espcn"}, "s": {"arch": "srcnn"}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}, "vgg": {"terms": [{"name": "vgg", "weight": 0.1}]}},
    "scales": [2, 4],
    "seeds": [0, 1],
    "evaluation": {"metrics": ["psnr_y"]},
}


def srloss_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "srloss.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )


def test_version():
    result = srloss_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"srloss {srloss.__version__}"


@pytest.mark.parametrize(
    "command, words",
    [
        ("train", "train one run"),
        ("check", "validate a study config"),
        ("evaluate", "measure one run"),
        ("aggregate", "summary tables"),
        ("upscale", "super-resolve your own images"),
        ("compare", "a crop grid of one image across runs"),
    ],
)
def test_help_says_what_each_subcommand_is_for(command, words):
    top = srloss_cli("--help")
    assert top.returncode == 0 and words in top.stdout
    assert srloss_cli(command, "--help").returncode == 0


def test_check_prints_the_grid_and_what_will_be_fetched(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(STUDY))
    result = srloss_cli("check", str(config))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # 2 trained models x 2 losses x 2 scales x 2 seeds = 16 trained runs, plus bicubic at 2 scales
    assert "runs: 18 (16 trained" in out and "2 untrained baselines" in out
    assert "jobs: fetch_weight 1, prepare 6, train 16, evaluate 18, aggregate 1, all 1 (total 43)" in out
    assert "dataset archives to fetch: none" in out
    assert "weight files to fetch: vgg19-dcbb9e9d.pth" in out  # the vgg loss's trunk; LPIPS is not measured


def test_check_names_downloads_of_div2k(tmp_path):
    div2k = {"source": "div2k", "splits": {"train": ["0001-0002"], "val": ["0801"], "test": ["0802"]}}
    study = {**STUDY, "datasets": {"div2k": div2k}, "losses": {"l1": {"terms": [{"name": "l1"}]}}}
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    result = srloss_cli("check", str(config))
    assert result.returncode == 0, result.stderr
    assert "dataset archives to fetch: DIV2K_train_HR.zip, DIV2K_valid_HR.zip" in result.stdout
    assert "weight files to fetch: none" in result.stdout


@pytest.mark.parametrize(
    "change, message",
    [
        ({"training": {"steps": 0}}, "config key training.steps: 0 is less than the minimum of 1"),
        ({"models": {"m": {"arch": "espcnn"}}}, "config key models.m.arch: unknown architecture 'espcnn'"),
        ({"training": {"log_every": "often"}}, "config key training.log_every: 'often' is not of type 'integer'"),
    ],
)
def test_check_rejects_a_bad_config_in_one_line_naming_the_key(tmp_path, change, message):
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({**STUDY, **change}))
    result = srloss_cli("check", str(config))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"srloss check: {config}: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
