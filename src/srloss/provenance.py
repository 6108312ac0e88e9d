"""What produced a result: code version, package versions, machine. Recorded beside every output."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

import srloss

PACKAGES = ("torch", "torchvision", "numpy", "h5py", "pandas", "scikit-image", "seaborn", "snakemake", "lpips")


def code_version() -> dict:
    """srloss version plus, when the code lives in a git checkout, its commit and dirty flag."""
    root = Path(srloss.__file__).resolve().parents[2]
    info = {"srloss": srloss.__version__, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            status = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            info["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect(device: str | None = None) -> dict:
    """Everything needed to say what produced a result."""
    info = {
        "code": code_version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
    }
    if device is not None:
        info["device"] = device
    return info
