"""GPU assignment: one flock per device, CUDA_VISIBLE_DEVICES honoured, and a real Snakemake run
with 6 concurrent GPU jobs on 2 (fake) devices in which overlapping jobs never share a device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from srloss.gpu import Device, list_devices, parse_nvidia_smi, prepare_env, try_lock

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

NVIDIA_SMI = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1b2c3d4e-0000-1111-2222-333344445555)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-99999999-aaaa-bbbb-cccc-dddddddddddd)
"""


def test_parse_nvidia_smi_uses_uuids():
    assert parse_nvidia_smi(NVIDIA_SMI) == [
        Device("0", "GPU-1b2c3d4e-0000-1111-2222-333344445555"),
        Device("1", "GPU-99999999-aaaa-bbbb-cccc-dddddddddddd"),
    ]
    assert parse_nvidia_smi("GPU 3: Tesla T4\n") == [Device("3", "3")]
    assert parse_nvidia_smi("NVIDIA-SMI has failed\n") == []


def test_list_devices_override_and_errors():
    assert list_devices({"SRLOSS_GPUS": "0, 1"}) == [Device("0", "0"), Device("1", "1")]
    assert list_devices({"SRLOSS_GPUS": ""}) == []
    with pytest.raises(ValueError, match="SRLOSS_GPUS"):
        list_devices({"SRLOSS_GPUS": "0,../x"})


def test_locks_are_exclusive_and_released(tmp_path):
    devices = [Device("0", "0"), Device("1", "1")]
    first = try_lock(devices, tmp_path)
    second = try_lock(devices, tmp_path)
    assert first and second and first[0] != second[0]
    assert try_lock(devices, tmp_path) is None  # both taken
    os.close(first[1])
    third = try_lock(devices, tmp_path)
    assert third and third[0] == first[0]
    for fd in (second[1], third[1]):
        os.close(fd)


def test_existing_cuda_visible_devices_is_honoured(tmp_path):
    env, fd, what = prepare_env({"CUDA_VISIBLE_DEVICES": "3", "SRLOSS_GPUS": "0,1", "SLURM_JOB_ID": "42"}, tmp_path)
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and fd is None
    assert "honoured" in what and "SLURM_JOB_ID=42" in what
    assert not list(tmp_path.iterdir())  # no lock taken


def test_no_gpu_runs_on_cpu(tmp_path):
    env, fd, what = prepare_env({"SRLOSS_GPUS": ""}, tmp_path)
    assert "CUDA_VISIBLE_DEVICES" not in env and fd is None and "CPU" in what


def _gpu_run_env(tmp_path: Path, gpus: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(SRLOSS_GPUS=gpus, SRLOSS_GPU_LOCK_DIR=str(tmp_path / "locks"), PATH=f"{BIN}:{env['PATH']}")
    return env


def test_lock_is_held_for_the_command_lifetime(tmp_path):
    """The wrapper execs the command; the inherited fd keeps the device locked until it exits."""
    env = _gpu_run_env(tmp_path, "0")
    holder = subprocess.Popen(
        [str(BIN / "srloss"), "gpu-run", "--", sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = holder.stderr.readline()  # the wrapper's log line, written before exec
        assert "CUDA_VISIBLE_DEVICES=0 (locked" in line, line
        assert try_lock([Device("0", "0")], tmp_path / "locks") is None
    finally:
        holder.communicate("", timeout=30)
    got = try_lock([Device("0", "0")], tmp_path / "locks")
    assert got is not None
    os.close(got[1])


SNAKEFILE = textwrap.dedent(
    """
    JOBS = range(6)

    rule all:
        input: expand("out/{i}.json", i=JOBS)

    rule gpu_job:
        output: "out/{i}.json"
        resources: gpu=1
        log: "logs/{i}.log"
        shell: "srloss gpu-run -- python record.py {output} > {log} 2>&1"
    """
)
RECORD = textwrap.dedent(
    """
    import json, os, sys, time
    start = time.time()
    time.sleep(1.5)
    record = {"start": start, "end": time.time(), "device": os.environ.get("CUDA_VISIBLE_DEVICES")}
    json.dump(record, open(sys.argv[1], "w"))
    """
)


@pytest.mark.integration
def test_concurrent_snakemake_gpu_jobs_get_distinct_devices(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "record.py").write_text(RECORD)
    env = _gpu_run_env(tmp_path, "0,1")
    env["PYTHONPATH"] = f"{REPO / 'src'}:{env.get('PYTHONPATH', '')}"
    result = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "4", "--resources", "gpu=2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = [json.loads((tmp_path / f"out/{i}.json").read_text()) for i in range(6)]
    assert {j["device"] for j in jobs} == {"0", "1"}
    overlapping = [
        (a, b) for n, a in enumerate(jobs) for b in jobs[n + 1 :] if a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlapping, "jobs never overlapped: the test would not show anything"
    assert all(a["device"] != b["device"] for a, b in overlapping), jobs
