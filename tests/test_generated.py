"""One definition per concept: the schema and the docs' tables are generated from the declarations,
and a new model, metric or source reaches every place that lists them without touching another file."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_config import demo_config
from test_source_registry import Tiles

from srloss import generate
from srloss.metrics import METRICS
from srloss.models import MODELS
from srloss.models.base import SRModel
from srloss.ops import imresize, reference_frame
from srloss.ops.tiling import tiled_forward
from srloss.study import ConfigError, Study, check_schema
from srloss.study.schema import build_schema

REPO = Path(__file__).resolve().parents[1]


def test_committed_schema_and_docs_are_what_the_declarations_generate():
    stale = generate.stale()
    assert stale == [], f"run `srloss generate`: {', '.join(map(str, stale))} differ from the declarations"


def test_generate_check_fails_naming_a_stale_file(tmp_path, monkeypatch):
    doc = tmp_path / "doc.md"
    doc.write_text("# x\n\n<!-- generated: models -->\nold\n<!-- end generated -->\n")
    monkeypatch.setattr(generate, "DOCS", [doc])
    monkeypatch.setattr("srloss.study.schema.SCHEMA_PATH", tmp_path / "schema.yaml")  # not the committed one
    assert doc in generate.stale()
    assert doc in generate.write() and "| `espcn` |" in doc.read_text() and generate.stale() == []
    result = subprocess.run([sys.executable, "-m", "srloss.cli", "generate", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout  # the real docs are up to date


def _checked(config: dict, tmp_path: Path) -> Study:
    """``srloss check``'s path with a schema generated now (it includes throwaway members)."""
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump(build_schema(), sort_keys=False))
    check_schema(config, schema)
    return Study(config)


class Doubling(SRModel):
    """Nearest-neighbour upscaling followed by a 3x3 convolution (a throwaway model for this test)."""

    scales = (2, 4)

    def __init__(self, scale: int, **options):
        super().__init__(scale, **options)
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, lr):
        return self.conv(imresize(reference_frame(lr), self.scale))

    def receptive_radius(self) -> int:
        return 2 + 1  # bicubic, then a 3x3 conv at HR (1/scale rounded up)


def test_a_new_model_is_one_class_seen_by_the_schema_the_checks_the_docs_and_tiling(tmp_path):
    with MODELS.registered("doubling", Doubling):
        config = copy.deepcopy(demo_config())
        config["models"] = {"d": {"arch": "doubling"}}
        assert (
            "doubling" in build_schema()["properties"]["models"]["additionalProperties"]["properties"]["arch"]["enum"]
        )
        study = _checked(config, tmp_path)
        assert study.is_trained("d")
        assert "| `doubling` | Nearest-neighbour upscaling" in generate.models_table()
        model = Doubling(2).eval()
        lr = torch.rand(1, 3, 21, 19)
        with torch.no_grad():
            assert torch.allclose(tiled_forward(model, lr, 2, 8), model(lr), atol=1e-5)  # its declared radius
        config["scales"] = [3]
        with pytest.raises(ConfigError, match="does not support scale"):
            _checked(config, tmp_path)
    assert "doubling" not in MODELS


def test_a_model_without_a_receptive_radius_fails_at_registration():
    from srloss.registry import RegistryError

    class NoRadius(SRModel):
        scales = (2,)

        def forward(self, lr):
            return lr

    with pytest.raises(RegistryError, match="receptive_radius"):
        MODELS.register("no_radius")(NoRadius)
    assert "no_radius" not in MODELS


def test_a_new_metric_is_one_class_seen_by_the_schema_the_checks_and_the_docs(tmp_path):
    from test_metric_registry import MeanAbsoluteDifference

    with METRICS.registered("mad", MeanAbsoluteDifference):
        schema = build_schema()
        assert "mad" in schema["properties"]["evaluation"]["properties"]["metrics"]["items"]["enum"]
        config = copy.deepcopy(demo_config())
        config["evaluation"] = {"metrics": ["psnr_y", "mad"]}
        assert _checked(config, tmp_path).config["evaluation"]["metrics"] == ["psnr_y", "mad"]
        assert "| `mad` |" in generate.metrics_table()
    config["evaluation"] = {"metrics": ["psnr_y", "mad"]}
    with pytest.raises(ConfigError, match="evaluation.metrics.1.: unknown metric 'mad'"):
        check_schema(config)  # gone with the registration


def test_a_new_source_is_one_class_seen_by_the_schema_and_the_docs(tmp_path):
    from srloss.data.sources import SOURCES

    with SOURCES.registered("memory", Tiles):
        enum = build_schema()["properties"]["datasets"]["additionalProperties"]["properties"]["source"]["enum"]
        assert "memory" in enum
        assert "| `memory` |" in generate.sources_table()
