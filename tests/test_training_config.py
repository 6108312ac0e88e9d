"""Training settings: the code's defaults are the schema's, result vs execution settings."""

import copy
import dataclasses
from pathlib import Path

import pytest
from test_training import study_config

from srloss.study import Run, Study, check_schema
from srloss.training.loop import train
from srloss.training.schedules import lr_factor
from srloss.training.settings import EXECUTION_KEYS, ExecutionConfig, TrainingConfig, execution_settings

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"
SPLITS = {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]}
MINIMAL = {
    "study": "s",
    "datasets": {"p": {"source": "skimage", "splits": SPLITS}},
    "models": {"g": {"arch": "espcn"}},
    "losses": {"mse": {"terms": [{"name": "mse"}]}},
    "scales": [2],
}


def snakemake_training(training: dict | None = None) -> dict:
    """``training`` as the Snakefile sees it: validated and filled by Snakemake's ``validate``."""
    config = {**copy.deepcopy(MINIMAL), **({"training": copy.deepcopy(training)} if training is not None else {})}
    check_schema(config)
    return config["training"]


def test_code_defaults_are_the_schema_defaults_as_snakemake_fills_them():
    filled = snakemake_training()
    cfg, exe = TrainingConfig.from_dict({}), ExecutionConfig.from_dict({})
    as_dict = {**dataclasses.asdict(cfg), **dataclasses.asdict(exe)}
    as_dict["betas"] = list(as_dict["betas"])
    as_dict["discriminator"]["betas"] = list(as_dict["discriminator"]["betas"])
    assert as_dict == filled
    assert exe.checkpoint_every == 500 and exe.log_every == 50 and cfg.compile is False and exe.tensorboard is False
    schedule = {"name": "cosine"}  # lr_factor reads a schedule's unset options with the same defaults
    assert lr_factor(schedule, 5, 10) == lr_factor(snakemake_training({"schedule": schedule})["schedule"], 5, 10)
    step = {"name": "step", "step_size": 2}
    assert lr_factor(step, 3, 10) == lr_factor({**filled["schedule"], **step}, 3, 10)


def test_nested_defaults_fill_like_snakemake():
    partial = {"schedule": {"name": "cosine"}, "discriminator": {"lr": 5e-5}}
    filled = snakemake_training(partial)
    cfg = TrainingConfig.from_dict(partial)
    assert cfg.schedule.as_dict() == filled["schedule"] and cfg.discriminator.lr == 5e-5
    assert cfg.discriminator.steps_per_g == filled["discriminator"]["steps_per_g"]


def test_unknown_keys_name_the_key_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown key 'stepz' \(did you mean 'steps'\?\); valid keys: steps"):
        TrainingConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="unknown key 'lr'; valid keys: threads"):
        ExecutionConfig.from_dict({"lr": 1e-3})


def test_run_spec_carries_result_settings_only():
    training = {
        "steps": 3,
        "lr": 1e-3,
        "threads": 2,
        "device": "cpu",
        "checkpoint_every": 7,
        "keep_checkpoint": True,
        "log_every": 2,
        "tensorboard": True,
        "compile": True,
    }
    spec = Study(study_config({"mse": {"terms": [{"name": "mse"}]}}, training)).run_spec(Run("p", "g", "mse", 2, 0))
    assert not set(EXECUTION_KEYS) & set(spec["training"])
    assert spec["training"]["lr"] == 1e-3 and spec["training"]["compile"] is True  # compile changes results: it stays
    assert execution_settings(training) == {k: training[k] for k in EXECUTION_KEYS}


def test_execution_settings_in_a_spec_are_refused(tmp_path):
    spec = Study(study_config({"mse": {"terms": [{"name": "mse"}]}}, {})).run_spec(Run("p", "g", "mse", 2, 0))
    spec["training"]["threads"] = 4
    with pytest.raises(ValueError, match="training.threads are execution settings"):
        train(spec, tmp_path / "t.h5", tmp_path / "v.h5", tmp_path / "m.pt", tmp_path / "h.csv", tmp_path / "r.json")
