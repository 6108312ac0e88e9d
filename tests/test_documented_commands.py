"""Every documented command is a test: each command the README or docs/ show in a ```bash block is
run verbatim (placeholders in <angle brackets> filled with a small study's values) in a fresh copy of
the repository, with PATH=/usr/bin:/bin and nothing else of this environment, or it is listed in
``NOT_RUN_HERE`` with the test that covers it instead. A newly documented command fails
``test_every_documented_command_is_run_or_accounted_for`` until it is one or the other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# A study small enough to run here in a minute or two: the demo's photographs, two losses.
MY_STUDY = {
    "study": "my-study",
    "datasets": {
        "photos": {
            "source": "packaged",
            "splits": {"train": ["chelsea", "rocket"], "val": ["coffee"], "test": ["astronaut", "coins", "camera"]},
            "patch_size": 32,
            "stride": 64,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 4, "residual": True}}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}, "mse": {"terms": [{"name": "mse"}]}},
    "scales": [2],
    "training": {"steps": 4, "batch_size": 4, "val_every": 2},
    "evaluation": {"metrics": ["psnr_y", "ssim_y"], "crops": {"images": 1, "size": 32}},
}
PLACEHOLDERS = {"study": "my-study", "dataset": "photos", "model": "espcn", "loss": "l1", "scale": "2", "seed": "0"}

# Documented commands this test does not run, each with why and what covers it instead.
NOT_RUN_HERE = {
    "make demo": "runs the demo study: its config is dry-run by tests/test_demo_config.py, and the same "
    "Snakemake commands run here on a small study",
    "make test": "the test command itself (.ci/run)",
    "make install": "installs into the project's .venv, which CI's `make test` does first",
    "conda env create -f envs/srloss.yaml": "conda is not installed here; tests/test_envs.py checks the file's "
    "pins against constraints.txt and pyproject.toml, and that the README's conda commands match it",
    "conda activate srloss": "needs conda; tests/test_envs.py checks the name is envs/srloss.yaml's",
    'make demo VENV="$CONDA_PREFIX"': "tests/test_envs.py dry-runs it: pip installs srloss with constraints.txt "
    "into that prefix, and the demo runs its snakemake",
    "srloss fetch-weights vgg19 resnet18 --torch-home resources/weights": "downloads from the internet; "
    "tests/test_weights.py runs it against a local HTTP server",
    "snakemake --profile profiles/slurm --configfile my-study.yaml": "needs a SLURM cluster: "
    "tests/test_slurm.py runs the profile on a real single-node cluster",
    "snakemake --cores all --resources gpu=1 --configfile config/experiments/<preset>.yaml": "a preset runs "
    "for hours on a GPU; tests/test_presets.py dry-runs every preset",
    "snakemake --cores all --configfile config/experiments/zhao2017-cpu.yaml": "about an hour on a CPU; "
    "tests/test_presets.py dry-runs every preset, and docs/evaluation.md holds one run's result",
}


def documented_commands() -> list[tuple[str, str]]:
    """(file, command) for every line of every ```bash block in the README and docs/, comments cut."""
    found = []
    for path in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].split(" # ")[0].strip()
                if command and not command.startswith("#"):
                    found.append((path.name, command))
    return found


def _key(command: str) -> str:
    """A command without the venv prefix, for ``NOT_RUN_HERE``."""
    return command.removeprefix(".venv/bin/")


def test_every_documented_command_is_run_or_accounted_for():
    commands = {c for _, c in documented_commands()}
    assert commands, "no ```bash blocks found"
    for command in commands:
        if _key(command) in NOT_RUN_HERE:
            continue
        assert command.startswith((".venv/bin/", "rm ")), (
            f"`{command}`: documented commands start with .venv/bin/ (they must work with a bare PATH) "
            "or are listed in NOT_RUN_HERE with the test that covers them"
        )
    assert set(NOT_RUN_HERE) <= {_key(c) for c in commands}, "NOT_RUN_HERE names a command no doc shows any more"


def _fill(command: str) -> str:
    return re.sub(r"<(\w+)>", lambda m: PLACEHOLDERS[m.group(1)], command)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh copy of the repository (its tracked files), the project's .venv linked in, my-study.yaml."""
    root = tmp_path_factory.mktemp("clone") / "srloss"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in files.splitlines():
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    (root / ".venv").symlink_to(VENV)
    (root / "my-study.yaml").write_text(yaml.safe_dump(MY_STUDY, sort_keys=False))
    write_my_photo(root)
    return root


def write_my_photo(root: Path) -> None:
    """``my-photo-hr.png`` (a 192x160 px photograph) and ``my-photo.png``, the study's x2 degradation of it:
    the user's image of docs/using-models.md."""
    from PIL import Image
    from skimage import data

    from srloss.data.prepare import degrade_pair

    hr, lr = degrade_pair(data.astronaut()[40:200, 160:352], 2)
    Image.fromarray(hr).save(root / "my-photo-hr.png")
    Image.fromarray(lr).save(root / "my-photo.png")


def _run(clone: Path, command: str) -> subprocess.CompletedProcess:
    """``command`` through /bin/sh in ``clone`` with PATH=/usr/bin:/bin and nothing else of this environment
    (but PYTHONPATH, which only a developer's checkout of the sources sets)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(clone.parent), "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(["/bin/sh", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.integration
def test_documented_commands_run_verbatim_with_a_bare_path(clone):
    """In the order the docs give them: check, fetch the weights, run to the verdict, then the report,
    the recovery commands, the profiles, a trained run on my-photo.png."""
    ran = []
    for source, command in documented_commands():
        if _key(command) in NOT_RUN_HERE or command in ran:
            continue
        result = _run(clone, _fill(command))
        assert result.returncode == 0, (
            f"{source}: `{command}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
        ran.append(command)
        if command.startswith(".venv/bin/snakemake --cores all --configfile my-study.yaml"):
            verdict = clone / "results/my-study/tables/verdict.md"
            assert verdict.exists() and "which loss is best" in verdict.read_text()
            per_image = pd.read_csv(clone / "results/my-study/tables/per_image.csv")
            assert set(per_image["loss"]) == {"l1", "mse", "none"}
    assert ".venv/bin/srloss check my-study.yaml" in ran
    assert (clone / "upscaled/my-photo_x2_photos-espcn-l1-seed0.png").exists()  # docs/using-models.md
    assert (clone / "compare.png").exists() and (clone / "compare-hr.png").exists()
    assert (clone / "results/my-study/report.html").exists()
