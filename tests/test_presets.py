"""Every preset in config/experiments/ resolves with the real snakemake CLI (dry run).

A preset names dataset sources, architectures and loss terms that other parts of the project
provide; while one of them is not registered yet, its test is skipped and says which name is
missing. Once everything is merged, every preset must dry-run.
"""

from pathlib import Path

import pytest
import yaml
from workflow_runner import run_snakemake

from srloss.data.sources import SOURCES
from srloss.losses import LOSS_TERMS
from srloss.models import DISCRIMINATORS, MODELS

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "config/experiments").glob("*.yaml"))


def _schema_sources() -> set[str]:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    source = schema["properties"]["datasets"]["additionalProperties"]["properties"]["source"]
    return set(source.get("enum", []))


def missing_names(preset: dict) -> list[str]:
    """The dataset sources, architectures, loss terms and discriminators the preset needs that are not registered."""
    sources = set(SOURCES) | _schema_sources()
    missing = [f"dataset source {d['source']!r}" for d in preset["datasets"].values() if d["source"] not in sources]
    missing += [f"architecture {m['arch']!r}" for m in preset["models"].values() if m["arch"] not in MODELS]
    for loss in preset["losses"].values():
        for term in loss["terms"]:
            if term["name"] not in LOSS_TERMS:
                missing.append(f"loss term {term['name']!r}")
            elif term["name"] == "adversarial" and term.get("discriminator", "vgg") not in DISCRIMINATORS:
                missing.append(f"discriminator {term['discriminator']!r}")
    return sorted(set(missing))


def test_there_are_five_presets():
    assert [p.stem for p in PRESETS] == ["downsampled-x4", "esrgan-ablation", "faces-x8", "srcnn-div2k", "survey-x4"]


@pytest.mark.integration
@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_dry_run_resolves(preset, tmp_path):
    config = yaml.safe_load(preset.read_text())
    missing = missing_names(config)
    assert not missing, f"{preset.name} names {', '.join(missing)}, which the registries do not define"
    for ds in config["datasets"].values():  # data the user supplies (MLFDB, folders) exists on their machine
        if ds.get("root"):
            (tmp_path / ds["root"]).mkdir(parents=True, exist_ok=True)
    result = run_snakemake(tmp_path, "-n", "--cores", "1", configfile=str(preset), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    n_runs = (
        sum(1 for _ in config["losses"])
        * len(config["models"])
        * len(config["scales"])
        * len(config.get("seeds", [0]))
        * len(config["datasets"])
    )
    trained = [line for line in result.stdout.splitlines() if line.split()[:1] == ["train"]]
    assert trained and int(trained[0].split()[1]) == n_runs, result.stdout[-3000:]
