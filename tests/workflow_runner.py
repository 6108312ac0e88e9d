"""Run the real snakemake CLI on a study config in a scratch folder (shared by the workflow tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: snakemake and the srloss CLI the rules call


def test_env() -> dict[str, str]:
    """The current environment with the venv's bin first on PATH."""
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}


test_env.__test__ = False  # a helper, not a test


def snakemake_command(workdir: Path, *args: str, configfile: str = "study.yaml") -> list[str]:
    """``snakemake -s <repo>/Snakefile --directory workdir *args --configfile configfile``.

    ``--configfile`` comes last: it takes several values, so a target name after it would be read as one.
    """
    return [
        str(BIN / "snakemake"),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
        "--configfile",
        configfile,
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    config: dict | None = None,
    configfile: str = "study.yaml",
    timeout: int = 900,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` (writing ``config`` to ``configfile`` first, if given)."""
    if config is not None:
        (workdir / configfile).write_text(yaml.safe_dump(config))
    return subprocess.run(
        snakemake_command(workdir, *args, configfile=configfile),
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=timeout,
        env=env or test_env(),
    )


# Snakemake's own notice that it applies the workflow profile (profiles/default: the report's
# stylesheet), printed first on every run; not part of what srloss says.
PROFILE_NOTICE = "Using workflow specific profile "


def message_lines(stderr: str) -> list[str]:
    """The non-blank lines of a run's standard error, without Snakemake's workflow-profile notice."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(PROFILE_NOTICE)]
