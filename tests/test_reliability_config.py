"""Reliability class "config errors": YAML mistakes and bad values end in one line naming the file,
line and column or the key, before any job runs (real snakemake CLI); a device that is absent
when a job starts is one line and exit code 3 (a config error is never worth retrying)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_runner import BIN, REPO, message_lines, run_snakemake, test_env

from srloss.errors import EXIT_USER_ERROR
from srloss.study import ConfigError, load_yaml

STUDY = """\
study: cfg
datasets:
  photos: {source: skimage, splits: {train: [chelsea], val: [coffee], test: [astronaut]}, patch_size: 16, stride: 64}
models:
  espcn: {arch: espcn, options: {channels: 8, hidden: 4}}
losses:
  mse: {terms: [{name: mse}]}
  l1: {terms: [{name: l1}]}
scales: [2]
training:
  steps: 2
  lr: 1e-3
"""


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one error line and no traceback; return that line."""
    assert result.returncode != 0, result.stdout[-2000:]
    lines = message_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr
    return lines[0]


def _dry_run(tmp_path: Path, text: str, *args: str, configfile: str = "study.yaml") -> subprocess.CompletedProcess:
    (tmp_path / configfile).write_text(text)
    return run_snakemake(tmp_path, "-n", "--cores", "1", *args, configfile=configfile, timeout=300)


def test_config_duplicate_keys_are_refused_with_file_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        STUDY.replace("  l1: {terms: [{name: l1}]}\n", "  l1: {terms: [{name: l1}]}\n  mse: {terms: [{name: l1}]}\n")
    )
    with pytest.raises(ConfigError, match=rf"^{path}:9: duplicate key 'mse' \(first given on line 7\)"):
        load_yaml(path)
    path.write_text("a: 1\nb: {x: 1, x: 2}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: duplicate key 'x' \(first given on line 2\)"):
        load_yaml(path)
    path.write_text("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n")  # a merge key overridden: allowed
    assert load_yaml(path)["other"] == {"x": 2}


def test_config_yaml_1_1_exponents_are_numbers():
    import io

    from srloss.study import StudyLoader

    data = yaml.load(
        io.StringIO("a: 1e-3\nb: 2E5\nc: -1.5e+2\nd: 1.0e-4\ne: '1e-3'\nf: 12\ng: 1_000\nh: e5\n"), Loader=StudyLoader
    )
    assert data == {"a": 0.001, "b": 2e5, "c": -150.0, "d": 1e-4, "e": "1e-3", "f": 12, "g": 1000, "h": "e5"}
    assert yaml.safe_load("a: 1e-3")["a"] == "1e-3"  # what YAML 1.1 (and Snakemake's loader) make of it


@pytest.mark.integration
def test_config_duplicate_key_through_snakemake(tmp_path):
    text = STUDY.replace("  l1: {terms: [{name: l1}]}\n", "  l1: {terms: [{name: l1}]}\n  mse: {terms: [{name: l1}]}\n")
    line = _one_line_error(_dry_run(tmp_path, text))
    assert line == (
        f"srloss: config error: {tmp_path / 'study.yaml'}:9: duplicate key 'mse' (first given on line 7); "
        "a YAML mapping keeps only the last one: remove or rename one of them"
    )


@pytest.mark.integration
def test_config_exponent_without_dot_is_a_number_through_snakemake(tmp_path):
    result = _dry_run(tmp_path, STUDY, "-p")
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout.split("srloss train --spec '")[1].split("'")[0])
    assert spec["training"]["lr"] == 0.001
    quoted = _one_line_error(_dry_run(tmp_path, STUDY.replace("lr: 1e-3", "lr: '1e-3'")))
    assert (
        quoted == "srloss: config error: config key training.lr: '1e-3' is not of type 'number'; write the number "
        "without quotes (0.001)"
    )


@pytest.mark.integration
def test_config_syntax_errors_name_file_line_and_column(tmp_path):
    broken = STUDY.replace("  steps: 2\n", "  steps: 2\n   lr: [1,\n")
    # the workflow's own config.yaml (no --configfile): read by srloss first
    (tmp_path / "config.yaml").write_text(broken)
    line = _one_line_error(
        subprocess.run(
            [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "-p"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=test_env(),
            timeout=300,
        )
    )
    assert line.startswith(
        "srloss: config error: config.yaml:12:6: YAML syntax error: mapping values are not allowed here"
    )
    # --configfile is read by Snakemake before the workflow starts (its message has no line);
    # `srloss check` gives the line for that file, as the README says
    (tmp_path / "study.yaml").write_text(broken)
    check = subprocess.run(
        [str(BIN / "srloss"), "check", "study.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=test_env(),
        timeout=120,
    )
    assert check.returncode != 0
    assert "study.yaml:12:6: YAML syntax error" in _one_line_error(check)
    (tmp_path / "study.yaml").write_text(STUDY)
    ok = subprocess.run(
        [str(BIN / "srloss"), "check", "study.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=test_env(),
        timeout=120,
    )
    assert ok.returncode == 0 and "study.yaml: valid" in ok.stdout and "runs: 3 " in ok.stdout, ok.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            ("  steps: 2\n", "  stepz: 2\n"),
            "config key training: unknown key 'stepz' (did you mean 'steps'?); valid keys: steps, epochs, "
            "steps_per_epoch, batch_size, lr, ",
        ),
        (
            ("  lr: 1e-3\n", "  lr: 1e-3\n  device: gpu\n"),
            "config key training.device: expected auto (a GPU if one is visible, else the CPU), cpu, cuda or "
            "cuda:N (N = GPU index), got 'gpu'",
        ),
        (
            ("scales: [2]\n", "scales: [2]\nevaluation: {device: 'cuda:x'}\n"),
            "config key evaluation.device: expected auto (a GPU if one is visible, else the CPU), cpu, cuda or "
            "cuda:N (N = GPU index), got 'cuda:x'",
        ),
        (("scales: [2]\n", "scales: [two]\n"), "config key scales[0]: 'two' is not of type 'integer'"),
        (
            ("study: cfg\n", "study: cfg\ntrainig: {steps: 3}\n"),
            "config key (top level): unknown key 'trainig' (did you mean 'training'?)",
        ),
    ],
)
def test_config_bad_values_are_one_line_before_any_job(tmp_path, edit, expected):
    line = _one_line_error(_dry_run(tmp_path, STUDY.replace(*edit)))
    assert line.startswith("srloss: config error: " + expected), line
    assert not (tmp_path / "results").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "srloss"), *args], capture_output=True, text=True, env=test_env(), timeout=300)


def test_config_cuda_without_a_gpu_is_one_line_at_job_start(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here: 'cuda' is valid")
    spec = {
        "study": "s",
        "dataset": "d",
        "model": "m",
        "arch": "espcn",
        "model_options": {},
        "loss": "l1",
        "scale": 2,
        "seed": 0,
        "terms": [{"name": "l1"}],
        "training": {"steps": 1},
    }
    out = [str(tmp_path / name) for name in ("model.pt", "history.csv", "run.json")]
    result = _cli(
        "train",
        "--spec",
        json.dumps(spec),
        "--train-shard",
        "none.h5",
        "--val-shard",
        "none.h5",
        "--model",
        out[0],
        "--history",
        out[1],
        "--record",
        out[2],
        "--execution",
        '{"device": "cuda"}',
    )
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    line = [ln for ln in result.stderr.splitlines() if "error" in ln.lower()]
    assert len(line) == 1 and line[0].startswith(
        "srloss: error: training.device: 'cuda' requested, but this job sees 0 CUDA GPU(s)"
    )
    assert "Traceback" not in result.stderr and not any(Path(p).exists() for p in out)


@pytest.mark.integration
def test_config_error_inside_a_job_exits_3_and_is_not_retried(tmp_path):
    """evaluation.device: cuda on a machine without GPU: each evaluate job fails once, at once, with
    exit code 3 and the one line in its log; Snakemake does not retry it."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here: 'cuda' is valid")
    config = yaml.safe_load(STUDY)
    config["models"] = {"bicubic": {"arch": "bicubic"}}  # an untrained baseline: no training before evaluation
    config["evaluation"] = {"device": "cuda", "metrics": ["psnr_y"]}
    result = run_snakemake(
        tmp_path, "--cores", "1", config=copy.deepcopy(config), timeout=600, env={**test_env(), "SRLOSS_GPUS": ""}
    )
    assert result.returncode != 0
    log = (tmp_path / "results/cfg/logs/evaluate/photos/bicubic/none/x2/seed0.log").read_text()
    assert "srloss: error: evaluation.device: 'cuda' requested, but this job sees 0 CUDA GPU(s)" in log
    assert "Traceback" not in log
    assert "exit status 3" in result.stderr
    assert result.stderr.count("Error in rule evaluate:") == 1  # ran once: no retry


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("  lr: 1e-3\n", "  lr: .nan\n"), "config key training.lr: expected a number > 0, got nan"),
        (("  lr: 1e-3\n", "  lr: .inf\n"), "config key training.lr: expected a number > 0, got inf"),
        (
            ("patch_size: 16", "patch_size: 16, degradation: {blur_sigma: .nan}"),
            "config key datasets.photos.degradation.blur_sigma: expected a number >= 0, got nan",
        ),
        (
            ("{name: l1}", "{name: charbonnier, eps: .nan}"),
            "config key losses.l1.terms[0].eps: expected a number > 0, got nan",
        ),
        (
            ("scales: [2]\n", "scales: [2]\nevaluation: {alpha: .nan}\n"),
            "config key evaluation.alpha: expected a number > 0 and < 1, got nan",
        ),
    ],
)
def test_config_nan_and_infinity_are_refused_naming_the_key(tmp_path, edit, expected):
    """NaN passes a JSON schema's bounds (every comparison with NaN is false); the declared options refuse it."""
    from srloss.study import load_study

    (tmp_path / "study.yaml").write_text(STUDY.replace(*edit))
    with pytest.raises(ConfigError) as error:
        load_study(tmp_path / "study.yaml")
    assert str(error.value) == expected or str(error.value).startswith(expected), str(error.value)


@pytest.mark.integration
def test_config_overrides_read_numbers_lists_and_mappings_as_a_config_file_does(tmp_path):
    """`--config seeds=[0,1]` and `--config training={lr: 0.001}`: numbers, as documented."""
    (tmp_path / "config.yaml").write_text(STUDY)
    result = subprocess.run(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n", "-p"]
        + ["--config", "seeds=[0,1]", 'training={"lr": 0.001, "steps": 3}'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=test_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    plan = result.stdout + result.stderr
    assert "seed1" in plan and '"lr":0.001' in plan and '"steps":3' in plan


@pytest.mark.integration
def test_config_a_user_error_in_training_is_not_tried_again(tmp_path):
    """training.device: cuda without a GPU: the train job's retry (retries: 1, for preemptions) repeats
    the first attempt's one line at once instead of running again."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here: 'cuda' is valid")
    config = yaml.safe_load(STUDY)
    config["training"]["device"] = "cuda"
    config["losses"] = {"l1": config["losses"]["l1"]}
    env = {**test_env(), "SRLOSS_GPUS": "", "CUDA_VISIBLE_DEVICES": ""}
    result = run_snakemake(tmp_path, "--cores", "1", "--until", "train", config=config, timeout=600, env=env)
    assert result.returncode != 0
    log = (tmp_path / "results/cfg/logs/train/photos/espcn/l1/x2/seed0.log").read_text()
    assert "(attempt 2: not retried)" in log and "'cuda' requested, but this job sees 0 CUDA GPU(s)" in log
    assert "Traceback" not in log and "run status" not in log


def test_config_a_batch_beyond_the_machine_is_warned_at_check_time(tmp_path):
    """batch_size 100000 passes every rule but would be killed for memory: check and run say so first."""
    from srloss.study import load_study

    (tmp_path / "study.yaml").write_text(STUDY)
    assert load_study(tmp_path / "study.yaml").warnings() == []
    (tmp_path / "study.yaml").write_text(STUDY.replace("  steps: 2\n", "  steps: 2\n  batch_size: 10000000\n"))
    warnings = load_study(tmp_path / "study.yaml").warnings()
    assert warnings and "a training batch of 10000000 x 16 px patches of photos at x2" in warnings[0]
    assert "estimate" in warnings[0] and "lower training.batch_size" in warnings[0]
    check = _cli("check", str(tmp_path / "study.yaml"))
    assert check.returncode == 0 and "warning: losses.mse: a training batch of 10000000" in check.stdout
