"""The Snakefile parse skips the torch import: Study remembers that a config passed the checks
with the same srloss sources (srloss.study._checked), and re-checks after any relevant change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from srloss.study import ConfigError, Study

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys, yaml
from srloss.study import Study
study = Study(yaml.safe_load(open(sys.argv[1])), cache_dir=sys.argv[2])
print(json.dumps({"torch": "torch" in sys.modules, "runs": len(study.runs()),
                  "trained": {m: study.is_trained(m) for m in study.models}}))
"""


def probe(src: Path, config: Path, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), str(cache)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.fixture()
def demo(tmp_path) -> Path:
    from srloss.study import check_schema

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    check_schema(config)  # as the Snakefile does: defaults filled
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_second_parse_needs_no_torch_and_code_edits_recheck(tmp_path, demo):
    src = tmp_path / "src"
    shutil.copytree(REPO / "src/srloss", src / "srloss", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    first = probe(src, demo, cache)
    second = probe(src, demo, cache)
    assert first["torch"] and not second["torch"]
    assert first["runs"] == second["runs"] == 26  # 2 models x 3 losses x 2 scales x 2 seeds + 2 baselines
    assert first["trained"] == second["trained"] == {"srcnn": True, "espcn": True, "bicubic": False}
    with open(src / "srloss/losses/pixel.py", "a") as f:  # a registry module (imported lazily)
        f.write("\n_EDITED = True\n")  # new code (a comment alone is not a change of code)
    assert probe(src, demo, cache)["torch"]  # checked again
    assert len(list(cache.glob("checked-*.json"))) == 2


def test_bad_config_is_never_cached(tmp_path, demo):
    config = yaml.safe_load(demo.read_text())
    config["losses"]["mse"]["terms"][0]["name"] = "nope"
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"losses\.mse\.terms\[0\]\.name"):
            Study(config, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
