"""Per-loss training overrides (``losses.<name>.training``) and patch sizes per scale."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from srloss.data.prepare import prepare
from srloss.data.shards import PatchDataset
from srloss.data.sources import split_spec
from srloss.study import ConfigError, Run, Study, check_schema, load_yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


def study_config(**dataset_changes) -> dict:
    """A small two-scale study on the embedded photographs, unvalidated."""
    config = {
        "study": "ov",
        "datasets": {
            "photos": {
                "source": "skimage",
                "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
                "patch_size": 48,
                "stride": 48,
                **dataset_changes,
            }
        },
        "models": {"espcn": {"arch": "espcn"}},
        "losses": {"mse": {"terms": [{"name": "mse"}]}, "l1": {"terms": [{"name": "l1"}]}},
        "scales": [2, 4],
        "training": {"lr": 1e-3, "betas": [0.9, 0.999], "discriminator": {"lr": 1e-4, "steps_per_g": 1}},
    }
    return config


def checked(config: dict) -> Study:
    """What the workflow does at parse time: schema (one-line errors), defaults, semantic checks."""
    check_schema(config)
    return Study(config)


def test_a_loss_override_changes_that_loss_runs_only():
    config = study_config()
    config["losses"]["l1"]["training"] = {"lr": 5e-4, "betas": [0.5, 0.9], "discriminator": {"steps_per_g": 5}}
    study = checked(config)
    l1 = study.run_spec(Run("photos", "espcn", "l1", 2, 0))["training"]
    mse = study.run_spec(Run("photos", "espcn", "mse", 2, 0))["training"]
    assert (l1["lr"], l1["betas"]) == (5e-4, [0.5, 0.9])
    assert (mse["lr"], mse["betas"]) == (1e-3, [0.9, 0.999])
    assert config["training"]["lr"] == 1e-3  # the study's own block is left as it was


def test_an_override_merges_nested_settings_key_by_key():
    config = study_config()
    config["losses"]["l1"]["terms"].append({"name": "adversarial", "weight": 0.01})
    config["losses"]["l1"]["training"] = {"discriminator": {"steps_per_g": 5}}
    disc = checked(config).run_spec(Run("photos", "espcn", "l1", 2, 0))["training"]["discriminator"]
    assert disc["steps_per_g"] == 5 and disc["lr"] == 1e-4  # the study's discriminator lr is kept


def test_the_schema_default_fills_no_override():
    config = study_config()
    config["losses"]["l1"]["training"] = {"lr": 5e-4}
    checked(config)
    assert config["losses"]["l1"]["training"] == {"lr": 5e-4}  # no defaults were written into it


@pytest.mark.parametrize(
    "override, message",
    [
        ({"lr": "fast"}, "config key losses.l1.training.lr: expected a number > 0, got 'fast'"),
        ({"stepz": 10}, "config key losses.l1.training: unknown key 'stepz' (did you mean 'steps'?)"),
        (
            {"discriminator": {"lr": -1}},
            "config key losses.l1.training.discriminator.lr: expected a number > 0, got -1",
        ),
        ({"threads": 4}, "config key losses.l1.training.threads: an execution setting applies to the whole study"),
        ({"schedule": {"name": "step"}}, "config key losses.l1.training.schedule."),
    ],
)
def test_a_bad_override_is_one_line_naming_its_key(override, message):
    config = study_config()
    config["losses"]["l1"]["training"] = override
    with pytest.raises(ConfigError) as error:
        checked(config)
    assert str(error.value).startswith(message)


def test_patch_size_per_scale_resolves_for_each_shard():
    config = study_config(patch_size={2: 32, 4: 64}, stride={2: 32, 4: 64})
    spec = checked(config).dataset_spec("photos")
    assert split_spec(spec, "train", 2)["patch_size"] == 32
    assert split_spec(spec, "train", 4)["patch_size"] == 64
    assert "patch_size" not in split_spec(spec, "test", 4)  # only training patches depend on it
    edited = copy.deepcopy(spec)
    edited["patch_size"][4] = 96
    assert split_spec(edited, "train", 2) == split_spec(spec, "train", 2)  # the x2 shard keeps its identity
    assert split_spec(edited, "train", 4) != split_spec(spec, "train", 4)


def test_patches_per_scale_reach_the_shard(tmp_path):
    config = study_config(patch_size={2: 32, 4: 64}, stride={2: 64, 4: 64})
    spec = checked(config).dataset_spec("photos")
    for scale, lr_side in [(2, 16), (4, 16)]:
        shard = tmp_path / f"x{scale}.h5"
        prepare(split_spec(spec, "train", scale), scale, {"train": shard})
        sample = PatchDataset(shard)[0]
        lr, hr = sample[0], sample[1]
        assert lr.shape[-1] == lr_side and hr.shape[-1] == lr_side * scale


@pytest.mark.parametrize(
    "patch, message",
    [
        ({2: 32}, "config key datasets.photos.patch_size: no entry for scale(s) [4]"),
        ({2: 32, 4: 64, 8: 64}, "config key datasets.photos.patch_size: entries for [8], which are not in `scales`"),
        ({2: 32, 4: 66}, "config key datasets.photos.patch_size: {2: 32, 4: 66} is not a multiple of scale(s) [4]"),
        ({2: "big", 4: 64}, "config key datasets.photos.patch_size"),
    ],
)
def test_bad_patch_sizes_per_scale_name_the_key(patch, message):
    with pytest.raises(ConfigError) as error:
        checked(study_config(patch_size=patch))
    assert str(error.value).startswith(message)


def test_a_loss_term_checks_the_patch_of_every_scale():
    config = study_config(patch_size={2: 32, 4: 192})
    config["losses"]["l1"]["terms"] = [{"name": "ms_ssim"}]  # needs 176 px: fits x4's patch, not x2's
    with pytest.raises(ConfigError, match=r"losses.l1.terms\[0\].*datasets.photos.patch_size"):
        checked(config)


def test_the_demo_config_still_loads():
    config = load_yaml(REPO / "config.yaml")
    checked(config)
