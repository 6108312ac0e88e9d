"""A real SLURM run: a single-node cluster with two fake GPUs on 127.0.0.1 (.ci/slurm-up.sh),
a tiny study submitted through profiles/slurm, training jobs checked to have run as SLURM jobs
on distinct GPUs. Skipped, saying why, where SLURM cannot be started (not root, no apt-get)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

STUDY = {
    "study": "slurm",
    "datasets": {
        "photos": {
            "source": "skimage",
            "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
            "patch_size": 16,
            "stride": 64,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 4}}},
    "losses": {"mse": {"terms": [{"name": "mse"}]}, "l1": {"terms": [{"name": "l1"}]}},
    "scales": [2],
    "seeds": [0],
    "training": {"steps": 4, "batch_size": 2, "val_every": 2, "threads": 1},
}
GPU_RUN_LINE = re.compile(r"gpu-run pid=\d+: CUDA_VISIBLE_DEVICES=(\S*) \(already set, honoured\) SLURM_JOB_ID=(\d+)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip(
            "SLURM test skipped: starting slurmctld/slurmd/munged and creating fake GPU device nodes needs root"
        )
    if not (shutil.which("slurmctld") and shutil.which("munged")) and not shutil.which("apt-get"):
        pytest.skip("SLURM test skipped: slurm-wlm/munge are not installed and there is no apt-get to install them")
    state = tmp_path_factory.mktemp("slurm")
    try:
        up = subprocess.run([str(REPO / ".ci/slurm-up.sh"), str(state)], capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, f"slurm-up.sh failed ({up.returncode}): {up.stderr}"
        yield state
    finally:
        subprocess.run([str(REPO / ".ci/slurm-down.sh"), str(state)], timeout=60)


@pytest.mark.integration
def test_study_runs_through_the_slurm_profile(cluster, tmp_path):
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CUDA_VISIBLE_DEVICES", "SRLOSS_GPU"))}
    env.update(PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}")
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            "study.yaml",
            "--profile",
            str(REPO / "profiles/slurm"),
            # this test cluster has no accounting database (and no accounts: the plugin submits without);
            # the profile's default status command must work there as it is; checks start early to save time
            "--slurm-init-seconds-before-status-checks",
            "1",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert (tmp_path / "results/slurm/tables/summary.csv").is_file()

    # every training job ran as a SLURM job with one GPU of its own (gpu-run logs what it found)
    logs = sorted((tmp_path / "results/slurm/logs/train").rglob("*.log"))
    assert len(logs) == 2
    seen = [GPU_RUN_LINE.search(log.read_text()) for log in logs]
    assert all(seen), [log.read_text()[:2000] for log in logs]
    devices = [m.group(1) for m in seen]
    job_ids = [m.group(2) for m in seen]
    assert len(set(job_ids)) == 2
    assert sorted(devices) == ["0", "1"], f"both training jobs were given the same GPU: {devices}"

    # every rule was submitted to SLURM except the localrules (aggregation ran on the submit host)
    submitted = re.findall(r"has been submitted with SLURM jobid \d+ \(log: \S+/slurm_logs/rule_(\w+)/", result.stderr)
    assert sorted(submitted) == ["evaluate"] * 3 + ["prepare"] * 3 + ["train"] * 2, result.stderr[-3000:]


@pytest.mark.integration
@pytest.mark.parametrize("profile", ["slurm", "local"])
def test_profiles_load_and_request_gpus_for_gpu_rules_only(tmp_path, profile):
    """Without a cluster: the profiles parse, and only training and evaluation jobs ask for a GPU."""
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PYTHONPATH": f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}",
    }
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            "study.yaml",
            "--profile",
            str(REPO / "profiles" / profile),
            "-n",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = [
        j
        for j in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", result.stdout, re.M)
        if j[0] != "all"
    ]
    assert sorted(rule for rule, _ in jobs) == [
        "aggregate",
        "evaluate",
        "evaluate",
        "evaluate",
        "prepare",
        "prepare",
        "prepare",
        "train",
        "train",
    ]
    for rule, resources in jobs:
        assert ("gpu=1" in resources.split(", ")) == (rule in ("train", "evaluate")), (rule, resources)
        if profile == "slurm" and rule != "aggregate":
            assert "runtime=" in resources and "mem_mb=" in resources and "cpus_per_task=" in resources, (
                rule,
                resources,
            )
