"""envs/srloss.yaml (the conda environment of every rule) installs what pyproject.toml requires,
at the exact versions of constraints.txt (what `make` installs), within pyproject's ranges; the
README's conda commands (the demo without a venv) name that file and work with its environment."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    """PEP 503 normalised project name (dlib_bin, Dlib-Bin and dlib-bin are one package)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _env() -> tuple[dict[str, str], dict[str, str]]:
    """(conda packages, pip packages) of envs/srloss.yaml: normalised name -> version spec."""
    env = yaml.safe_load((REPO / "envs/srloss.yaml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                req = Requirement(line)
                pip[_norm(req.name)] = str(req.specifier)
        else:
            name, _, version = dep.partition("=")
            conda[_norm(name)] = version
    return conda, pip


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_norm(name)] = version
    return pins


def test_every_pyproject_dependency_is_in_the_conda_environment():
    conda, pip = _env()
    missing = [dep for dep in _pyproject()["dependencies"] if _norm(Requirement(dep).name) not in {**conda, **pip}]
    assert not missing, f"envs/srloss.yaml lacks {missing} (pyproject.toml requires them)"


def test_environment_pins_are_constraints_versions_within_pyproject_ranges():
    _, pip = _env()
    pins, ranges = (
        _constraints(),
        {_norm(Requirement(d).name): Requirement(d).specifier for d in _pyproject()["dependencies"]},
    )
    for name, spec in pip.items():
        assert spec.startswith("=="), f"envs/srloss.yaml: pin {name} exactly (==), got {spec!r}"
        version = spec[2:]
        assert pins.get(name) == version, f"envs/srloss.yaml: {name}=={version}, constraints.txt: {pins.get(name)}"
        assert ranges.get(name, SpecifierSet()).contains(version, prereleases=True), (name, version, ranges[name])


def test_environment_python_satisfies_requires_python():
    conda, _ = _env()
    assert SpecifierSet(_pyproject()["requires-python"]).contains(conda["python"] + ".0")


def _conda_commands() -> list[str]:
    from test_documented_commands import documented_commands

    return [
        command for source, command in documented_commands() if source == "README.md" and "conda" in command.lower()
    ]


def test_readme_conda_commands_name_this_environment():
    commands = _conda_commands()
    create = next(c for c in commands if c.startswith("conda env create"))
    assert create.split("-f ")[1] == "envs/srloss.yaml"
    activate = next(c for c in commands if c.startswith("conda activate"))
    assert activate.split()[-1] == yaml.safe_load((REPO / "envs/srloss.yaml").read_text())["name"]
    conda, _ = _env()
    assert "make" in conda, "the README runs make inside the environment: envs/srloss.yaml must install it"


def test_readme_conda_demo_installs_srloss_into_the_environment_with_constraints(tmp_path):
    """The documented ``make demo VENV="$CONDA_PREFIX"``, dry-run (make -n) with a prefix that has no venv."""
    demo = next(c for c in _conda_commands() if c.startswith("make demo"))
    prefix = tmp_path / "envs" / "srloss"
    out = subprocess.run(
        ["/bin/sh", "-c", demo.replace("make ", "make -n ", 1)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "CONDA_PREFIX": str(prefix)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert f"{prefix}/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'" in out.stdout
    assert f"{prefix}/bin/snakemake --cores all" in out.stdout and ".venv" not in out.stdout
    assert not prefix.exists()  # a dry run
