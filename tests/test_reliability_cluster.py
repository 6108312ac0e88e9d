"""Reliability class "cluster": a CUDA_VISIBLE_DEVICES exported outside SLURM is shared out one
device per job (real `srloss gpu-run` processes on fake devices, as in test_gpu.py), devices that
are absent are one clear line, and the SLURM profile's default status command works without an
accounting database (the real cluster run is tests/test_slurm.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_runner import BIN, REPO

from srloss.gpu import Device, DeviceError, prepare_env, resolve_device, try_lock


def test_cluster_exported_devices_are_locked_one_per_job(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "2,3", "SRLOSS_GPUS": "0,1"}  # the export wins over the machine's list
    first_env, first_fd, what = prepare_env(env, tmp_path)
    second_env, second_fd, _ = prepare_env(env, tmp_path)
    try:
        assert {first_env["CUDA_VISIBLE_DEVICES"], second_env["CUDA_VISIBLE_DEVICES"]} == {"2", "3"}
        assert first_fd is not None and second_fd is not None
        assert "among the exported CUDA_VISIBLE_DEVICES=2,3" in what
        assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu2.lock", "gpu3.lock"]
        assert try_lock([Device("2", "2"), Device("3", "3")], tmp_path) is None  # both taken
    finally:
        os.close(first_fd)
        os.close(second_fd)


def test_cluster_single_exported_device_is_still_locked(tmp_path):
    env, fd, what = prepare_env({"CUDA_VISIBLE_DEVICES": "1"}, tmp_path)
    try:
        assert env["CUDA_VISIBLE_DEVICES"] == "1" and fd is not None and "locked" in what
        assert try_lock([Device("1", "1")], tmp_path) is None  # a second job would wait for it
    finally:
        os.close(fd)


def test_cluster_slurm_allocations(tmp_path):
    one, fd, what = prepare_env({"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "7"}, tmp_path)
    assert fd is None and "honoured" in what and not list(tmp_path.iterdir())  # SLURM gave this device to this job
    env, fd, what = prepare_env({"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_ID": "7"}, tmp_path)
    try:  # several jobs inside one allocation of two GPUs: locks of their own, named after the allocation
        assert env["CUDA_VISIBLE_DEVICES"] == "0" and (tmp_path / "slurm-7/gpu0.lock").exists()
    finally:
        os.close(fd)


def test_cluster_empty_export_means_cpu_and_bad_ids_are_refused(tmp_path):
    env, fd, what = prepare_env({"CUDA_VISIBLE_DEVICES": ""}, tmp_path)
    assert fd is None and env["CUDA_VISIBLE_DEVICES"] == "" and "CPU" in what
    with pytest.raises(
        DeviceError, match=r"CUDA_VISIBLE_DEVICES='0,\.\./x': device id '\.\./x' must be an index or a UUID"
    ):
        prepare_env({"CUDA_VISIBLE_DEVICES": "0,../x"}, tmp_path)


def _holder(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(BIN / "srloss"),
            "gpu-run",
            "--",
            sys.executable,
            "-c",
            "import os, sys; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_cluster_gpu_run_shares_exported_devices_between_real_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SRLOSS_GPU"))}
    env.update(CUDA_VISIBLE_DEVICES="5,7", SRLOSS_GPU_LOCK_DIR=str(tmp_path / "locks"), PATH=f"{BIN}:{env['PATH']}")
    first, second = _holder(env), _holder(env)
    third = None
    try:
        got = {first.stdout.readline().strip(), second.stdout.readline().strip()}
        assert got == {"5", "7"}, got
        third = _holder(env)  # both devices busy: it waits for one
        with pytest.raises(subprocess.TimeoutExpired):
            third.wait(timeout=1.5)
        first.communicate("", timeout=30)
        assert third.stdout.readline().strip() in {"5", "7"}
    finally:
        for p in (first, second, third):
            if p is not None and p.poll() is None:
                p.communicate("", timeout=30)


def test_cluster_absent_devices_are_one_line():
    import torch

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(
        DeviceError, match=r"^training.device: 'cuda:99' requested, but this job sees \d+ CUDA GPU\(s\)"
    ):
        resolve_device("cuda:99", "training.device")
    with pytest.raises(DeviceError, match="'gpu' is not a device"):
        resolve_device("gpu")


def test_cluster_slurm_profile_status_command_works_without_accounting():
    """squeue (not the plugin's default sacct) is the profile's status command; tests/test_slurm.py runs a
    study through this profile, unchanged, on a real cluster that has no accounting database."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["slurm-status-command"] == "squeue"
    after = Path(REPO / "tests/test_slurm.py").read_text().split("def test_study_runs")[1]
    study_run = re.split(r"\n(?=\S)", after)[0]  # that test's body: up to the next unindented line
    assert "slurm-status-command" not in study_run
