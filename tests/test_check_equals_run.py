"""`srloss check` and the workflow are one validation path: for each bad config of a table, `srloss
check` and `snakemake -n` print the same first error line; for good configs, check lists exactly the
jobs Snakemake plans."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest
import yaml
from workflow_runner import BIN, REPO, run_snakemake, test_env

from srloss.study import load_yaml

DEMO = load_yaml(REPO / "config.yaml")


def _edit(path: str, value, base: dict | None = None) -> dict:
    """The demo config with ``path`` (dotted; ``[i]`` for list items) set to ``value`` (None: removed)."""
    config = copy.deepcopy(base or DEMO)
    keys = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = config
    for key in keys[:-1]:
        node = node[int(key[1:-1])] if key.startswith("[") else node.setdefault(key, {})
    last = keys[-1]
    if value is None:
        del node[last]
    elif last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return config


BAD = [
    ("study", 5),
    ("stuyd", "x"),
    ("scales", ["two"]),
    ("scales", [1]),
    ("seeds", [-1]),
    ("datasets.demo.source", "packagd"),
    ("datasets.demo.splits.test", []),
    ("datasets.demo.splits.test", ["no_such_photo"]),
    ("datasets.demo.patch_size", 50),
    ("datasets.demo.patch_size", {2: 48}),
    ("datasets.demo.stride", 0),
    ("datasets.demo.degradation", {"blur_sigma": -1}),
    ("datasets.demo.degradation", {"blur": 1}),
    ("datasets.demo.degradation", {"blur_sigma": float("nan")}),
    ("datasets.demo.root", "/no/such/folder"),
    ("models.srcnn.arch", "srcn"),
    ("models.srcnn.options", {"chanels": 8}),
    ("models.srcnn.options", {"channels": 0}),
    ("losses.mse.terms", [{"name": "mes"}]),
    ("losses.mse.terms", [{"name": "mse", "weight": -1}]),
    ("losses.charbonnier.terms", [{"name": "charbonnier", "eps": 0}]),
    ("losses.mse.training", {"lr": -1}),
    ("losses.mse.training", {"stpes": 3}),
    ("losses.mse.training", {"threads": 4}),
    ("training.lr", float("nan")),
    ("training.stpes", 3),
    ("training.betas", [0.9, 1.5]),
    ("training.schedule", {"name": "step"}),
    ("training.device", "gpu"),
    ("evaluation.metrics", ["psnr"]),
    ("evaluation.lpips", {"nets": ["squeeze"]}),
    ("evaluation.reference", "nope"),
    ("evaluation.steps", [100000]),
]


def _first_error(text: str) -> str:
    """The first error line, without the command's own prefix."""
    for line in text.splitlines():
        for prefix in ("srloss: config error: ", "srloss check: study.yaml: "):
            if line.startswith(prefix):
                return line.removeprefix(prefix)
    return ""


def _check(tmp_path, config: dict) -> subprocess.CompletedProcess:
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(BIN / "srloss"), "check", "study.yaml"], cwd=tmp_path, capture_output=True, text=True, env=test_env()
    )


@pytest.mark.parametrize("path, value", BAD, ids=[f"{p}={v!r}" for p, v in BAD])
def test_check_refuses_each_bad_config_with_the_workflows_line(tmp_path, path, value, capsys):
    """In-process: `srloss check` prints exactly the line the Snakefile prints for the same error
    (both call load_study; the Snakefile prints `srloss: config error: <message>`)."""
    from srloss.cli import main
    from srloss.study import ConfigError, load_study

    (tmp_path / "study.yaml").write_text(yaml.safe_dump(_edit(path, value)))
    with pytest.raises(ConfigError) as error:
        load_study(tmp_path / "study.yaml")
    assert main(["check", str(tmp_path / "study.yaml")]) != 0
    printed = capsys.readouterr().err.strip().splitlines()
    assert printed == [f"srloss check: {tmp_path / 'study.yaml'}: {error.value}"]
    assert path.split(".")[0].split("[")[0] in str(error.value) or path == "stuyd"  # the key is named


# one of each kind (schema, declared settings, registry names, per-loss overrides, files), through the real CLIs
REAL = [BAD[i] for i in (1, 13, 15, 22, 14)]


@pytest.mark.integration
@pytest.mark.parametrize("path, value", REAL, ids=[f"{p}={v!r}" for p, v in REAL])
def test_check_and_the_workflow_give_the_same_first_line(tmp_path, path, value):
    check = _check(tmp_path, _edit(path, value))
    run = run_snakemake(tmp_path, "-n", "--cores", "1", timeout=300)
    assert check.returncode != 0 and run.returncode != 0
    expected = _first_error(run.stderr + run.stdout)
    assert expected, run.stderr[-2000:]
    assert _first_error(check.stderr) == expected
    assert "Traceback" not in check.stderr + run.stderr


def _planned_by_snakemake(result: subprocess.CompletedProcess) -> dict[str, int]:
    table = result.stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


@pytest.mark.integration
@pytest.mark.parametrize(
    "config",
    [
        DEMO,
        _edit("evaluation.steps", [100, 200]),
        _edit("datasets.faces", {"source": "packaged", "splits": {"test": ["astronaut", "moon"]}}),
        _edit("losses.l1", {"terms": [{"name": "l1"}], "tune": {"lr": [1.0e-4, 1.0e-3]}}),
    ],
    ids=["demo", "budget-steps", "test-set", "tuned-loss"],
)
def test_check_lists_exactly_the_jobs_snakemake_plans(tmp_path, config):
    from srloss.cli import planned_jobs
    from srloss.study import load_study

    if "faces" in config["datasets"]:
        config = copy.deepcopy(config)
        config["datasets"]["demo"]["test_on"] = ["faces"]
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    run = run_snakemake(tmp_path, "-n", "--cores", "1", timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    study = load_study(tmp_path / "study.yaml")
    assert dict(planned_jobs(study, torch_home=tmp_path / "no-weights")) == _planned_by_snakemake(run)


@pytest.mark.parametrize(
    "pixels, message",
    [
        ("transparent", "pixels are (partly) transparent (mode RGBA); flatten the image"),
        ("small", "smaller than patch_size 48: no training patch fits"),
        ("animated", "holds 2 frames (an animation or multi-page file)"),
    ],
)
def test_check_refuses_images_the_prepare_job_would_refuse(tmp_path, pixels, message):
    """Image-level problems are config errors, at check time and at the workflow's parse alike."""
    import numpy as np
    from PIL import Image

    from srloss.study import ConfigError, load_study

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(folder / f"{name}.png")
    if pixels == "transparent":
        rgba = np.full((64, 64, 4), 120, np.uint8)
        rgba[..., 3] = 100
        Image.fromarray(rgba).save(folder / "a.png")
    elif pixels == "small":
        Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(folder / "a.png")
    else:
        frames = [Image.fromarray(np.full((64, 64, 3), v, np.uint8)) for v in (10, 200)]
        frames[0].save(folder / "a.png", save_all=True, append_images=frames[1:])  # an animated PNG
    config = copy.deepcopy(DEMO)
    config["datasets"] = {
        "mine": {"source": "folder", "root": str(folder), "splits": {"train": ["a"], "val": ["b"], "test": ["c"]}}
    }
    config["scales"] = [2]
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="config key datasets.mine") as error:
        load_study(tmp_path / "study.yaml")
    assert message in str(error.value) and "a." in str(error.value)


def test_training_estimate_counts_one_patch_and_scales_with_the_batch():
    """The MAC count runs the model on one patch and multiplies: a batch far beyond memory (the
    check that warns about it must not allocate it) costs nothing to estimate."""
    from srloss.training.estimate import forward_macs

    one = forward_macs("espcn", 2, {"channels": 8, "hidden": 4}, 1, 16, None)
    # ESPCN (same padding, 16 x 16 LR): 5x5 conv 3->8, 3x3 conv 8->4, 3x3 conv 4->3*2*2
    assert one == 16 * 16 * (8 * 3 * 25 + 4 * 8 * 9 + 12 * 4 * 9)
    assert forward_macs("espcn", 2, {"channels": 8, "hidden": 4}, 10_000_000, 16, None) == 10_000_000 * one
