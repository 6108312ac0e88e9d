"""Config checks: schema (through the real snakemake CLI) and semantic checks (srloss.study)."""

import copy
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_runner import run_snakemake

from srloss.losses import LOSS_TERMS
from srloss.models import MODELS
from srloss.study import ConfigError, Run, Study, load_yaml

REPO = Path(__file__).resolve().parents[1]


def demo_config() -> dict:
    """The demo config with the schema's defaults filled, as the workflow sees it."""
    from srloss.study import check_schema

    config = load_yaml(REPO / "config.yaml")
    check_schema(config)
    return config


def test_demo_config_grid():
    study = Study(demo_config())
    runs = study.runs()
    trained = [r for r in runs if r.trained]
    assert len(trained) == 2 * 3 * 2 * 2  # models x losses x scales x seeds
    assert Run("demo", "bicubic", "none", 4, 0) in runs  # the baseline is added
    assert Run("demo", "espcn", "l1", 2, 1) in runs  # the second seed
    assert study.run_spec(trained[0])["training"]["steps"] == 300


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["models"]["srcnn"].update(arch="srcnnn"),
            "models.srcnn.arch: unknown architecture 'srcnnn'; valid choices: " + ", ".join(sorted(MODELS)),
        ),
        (
            lambda c: c["models"]["espcn"]["options"].update(depth=3),
            "models.espcn.options.depth: unknown option for ESPCN; valid options: channels, hidden, residual",
        ),
        (lambda c: c.update(scales=[2, 5]), "scale(s) [5]"),
        (
            lambda c: c["losses"]["mse"]["terms"][0].update(name="msee"),
            "losses.mse.terms[0].name: unknown loss term 'msee'; valid choices: " + ", ".join(sorted(LOSS_TERMS)),
        ),
        (
            lambda c: c["losses"]["charbonnier"]["terms"][0].update(epsilon=1),
            "losses.charbonnier.terms[0].epsilon: unknown option for CharbonnierLoss; valid options: eps",
        ),
        (
            lambda c: c["datasets"]["demo"]["splits"]["test"].insert(0, "lena"),
            "datasets.demo.splits.test[0]: unknown packaged image 'lena'",
        ),
        (
            lambda c: c["datasets"]["demo"]["splits"]["test"].append("coffee"),
            "image 'coffee' is in both 'val' and 'test'",
        ),
        (
            lambda c: c["datasets"]["demo"].update(patch_size=50),
            "datasets.demo.patch_size: 50 is not a multiple of scale(s) [4]",
        ),
        (
            lambda c: c["losses"].update(none={"terms": [{"name": "mse"}]}),
            "losses.none: the loss name 'none' is reserved",
        ),
        (
            lambda c: c.setdefault("evaluation", {}).update(reference="l3"),
            "config key evaluation.reference: 'l3' is neither 'baseline' nor a loss of the study; "
            "valid choices: baseline, ",
        ),
    ],
)
def test_semantic_errors_name_the_key(edit, message):
    config = copy.deepcopy(demo_config())
    edit(config)
    with pytest.raises(ConfigError) as err:
        Study(config)
    assert message in str(err.value)


def _dry_run(tmp_path: Path, config: dict, extra_files: dict | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    for name, text in (extra_files or {}).items():
        (tmp_path / name).write_text(text)
    return run_snakemake(tmp_path, "-n", "--cores", "1", timeout=300)


@pytest.mark.integration
def test_schema_errors_through_snakemake(tmp_path):
    config = load_yaml(REPO / "config.yaml")
    config["training"]["stepz"] = 5
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "stepz" in result.stderr + result.stdout
    # one line naming the key and the valid keys, not jsonschema's dump of the whole schema
    assert (
        "config key training: unknown key 'stepz' (did you mean 'steps'?); valid keys: steps, epochs," in result.stderr
    )
    assert "'properties'" not in result.stderr + result.stdout

    config = load_yaml(REPO / "config.yaml")
    config["scales"] = ["two"]
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "'two' is not of type 'integer'" in result.stderr + result.stdout

    config = load_yaml(REPO / "config.yaml")
    config["models"]["srcnn"]["arch"] = "vdsr"
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert (
        "models.srcnn.arch: unknown architecture 'vdsr'; valid choices: " + ", ".join(sorted(MODELS))
        in result.stderr + result.stdout
    )


@pytest.mark.integration
def test_configfile_replaces_the_demo_config(tmp_path):
    """`snakemake --configfile other.yaml` runs that study alone, not merged with config.yaml."""
    config = load_yaml(REPO / "config.yaml")
    config["study"] = "other"
    config["losses"] = {"only": {"terms": [{"name": "l1"}]}}
    result = _dry_run(tmp_path, config, {"config.yaml": (REPO / "config.yaml").read_text()})
    assert result.returncode == 0, result.stderr
    assert "results/other/runs/demo/srcnn/only/x2/seed0/model.pt" in result.stdout
    assert "/mse/" not in result.stdout and "results/demo/" not in result.stdout


# --- options, weights and labels are checked before any job runs ---------------------------


def _with_terms(*terms: dict) -> dict:
    config = copy.deepcopy(demo_config())  # patch_size 48
    config["losses"] = {"x": {"terms": list(terms)}}
    return config


@pytest.mark.parametrize(
    "terms, message",
    [
        ([{"name": "charbonnier", "eps": -1}], "losses.x.terms[0].eps: expected a number > 0, got -1"),
        ([{"name": "charbonnier", "eps": "small"}], "losses.x.terms[0].eps: expected a number > 0, got 'small'"),
        ([{"name": "huber", "delta": 0}], "losses.x.terms[0].delta: expected a number > 0, got 0"),
        ([{"name": "ms_ssim", "levels": 9}], "losses.x.terms[0].levels: expected an integer between 1 and 5, got 9"),
        ([{"name": "adversarial", "gp_weight": -1}], "losses.x.terms[0].gp_weight: expected a number >= 0, got -1"),
        ([{"name": "tv", "form": "beta"}], "losses.x.terms[0].beta: form 'beta' needs a positive beta, got None"),
        (
            [{"name": "ms_ssim"}],
            "losses.x.terms[0].levels: 5 levels with a 11-pixel window need patches of at least 176 "
            "pixels per side, not 48 (use fewer levels, or the ssim term) (datasets.demo.patch_size)",
        ),
        (
            [{"name": "ssim", "window": 49}],
            "losses.x.terms[0].window: a 49-pixel window does not fit in 48-pixel patches",
        ),
        (
            [{"name": "mse", "weight": -0.5}],
            "losses.x.terms[0].weight: -0.5 is negative; term 'mse' needs a weight >= 0",
        ),
        ([{"name": "mse", "weight": float("nan")}], "losses.x.terms[0].weight: expected a finite number, got nan"),
        ([{"name": "l1", "weight": float("inf")}], "losses.x.terms[0].weight: expected a finite number, got inf"),
        (
            [{"name": "l1", "label": "mse"}, {"name": "mse"}],
            "losses.x.terms[1].label: label 'mse' is already used by terms[0]; labels name the logged columns",
        ),
        (
            [{"name": "l1", "label": "a"}, {"name": "mse", "label": "a"}],
            "losses.x.terms[1].label: label 'a' is already used",
        ),
    ],
)
def test_term_options_weights_and_labels_fail_at_config_time(terms, message):
    with pytest.raises(ConfigError) as err:
        Study(_with_terms(*terms))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_options_that_fit_the_patches_pass():
    Study(
        _with_terms(
            {"name": "ms_ssim", "levels": 3},
            {"name": "ssim", "window": 7, "weight": 0.0},
            {"name": "tv", "form": "beta", "beta": 1.0},
            {"name": "l1", "label": "pixels"},
        )
    )


def test_model_options_fail_at_config_time():
    config = copy.deepcopy(demo_config())
    config["models"]["espcn"]["options"]["residual"] = "yes"
    with pytest.raises(
        ConfigError,
        match=r"config key models\.espcn\.options\.residual: expected true or false, "
        r"got 'yes'$",
    ):
        Study(config)


@pytest.mark.integration
def test_bad_term_option_stops_snakemake_before_any_job(tmp_path):
    config = load_yaml(REPO / "config.yaml")
    config["losses"]["charbonnier"]["terms"][0]["eps"] = -1
    result = _dry_run(tmp_path, config)
    assert result.returncode != 0
    assert "losses.charbonnier.terms[0].eps: expected a number > 0, got -1" in result.stderr + result.stdout
    assert "Job stats" not in result.stdout + result.stderr and not (tmp_path / "results").exists()


def test_evaluation_reference_accepts_baseline_or_a_loss():
    for reference in ["baseline", "mse"]:
        config = copy.deepcopy(demo_config())
        config.setdefault("evaluation", {})["reference"] = reference
        assert Study(config).config["evaluation"]["reference"] == reference
