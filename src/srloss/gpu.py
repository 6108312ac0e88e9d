"""Give each GPU job its own device: ``srloss gpu-run -- <command>``.

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run at once; it never says
which device a job should use, so every job would pick ``cuda:0``. ``gpu-run`` picks a free
device by taking an exclusive ``flock`` on one lock file per device in a shared folder, sets
``CUDA_VISIBLE_DEVICES`` to that device and then *replaces itself* with the command
(``exec``). The lock file descriptor is inherited by the command, so the device stays taken
for exactly the command's lifetime (the kernel drops the lock when it exits, even on SIGKILL),
and signals such as SLURM's SIGTERM/SIGUSR1 reach the command directly.

Where ``CUDA_VISIBLE_DEVICES`` is already set (SLURM sets it for ``--gpus``/``--gres`` jobs),
it is honoured unchanged. Devices come from ``SRLOSS_GPUS`` (comma-separated ids, for tests or
to restrict a machine; empty = none) or else ``nvidia-smi -L``; with no device the command runs
on the CPU. Locks live in ``SRLOSS_GPU_LOCK_DIR`` (default: a per-user folder in the system
temporary directory, so that several workflows on one machine share the devices politely).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

GPUS_ENV = "SRLOSS_GPUS"
LOCK_DIR_ENV = "SRLOSS_GPU_LOCK_DIR"
_NVIDIA_SMI_LINE = re.compile(r"^GPU (\d+):.*?(?:\(UUID: (GPU-[0-9a-fA-F-]+)\))?\s*$")


@dataclass(frozen=True)
class Device:
    """One GPU: ``index`` names its lock file, ``visible_id`` goes into CUDA_VISIBLE_DEVICES."""

    index: str
    visible_id: str


def parse_nvidia_smi(text: str) -> list[Device]:
    """Devices from ``nvidia-smi -L`` output. UUIDs are used when present, because CUDA's default
    device order (fastest first) can differ from nvidia-smi's (PCI bus) order."""
    devices = []
    for line in text.splitlines():
        m = _NVIDIA_SMI_LINE.match(line.strip())
        if m:
            devices.append(Device(m.group(1), m.group(2) or m.group(1)))
    return devices


def list_devices(env: Mapping[str, str] | None = None) -> list[Device]:
    """The machine's GPUs: ``SRLOSS_GPUS`` if set, else ``nvidia-smi -L``; none → empty list."""
    env = os.environ if env is None else env
    if GPUS_ENV in env:
        ids = [s.strip() for s in env[GPUS_ENV].split(",") if s.strip()]
        for i in ids:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", i):
                raise ValueError(f"{GPUS_ENV}={env[GPUS_ENV]!r}: device id {i!r} must be an index or a UUID (letters, digits, '-', '_', '.')")
        return [Device(i, i) for i in ids]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []


def default_lock_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"srloss-gpu-locks-{os.getuid()}"


def try_lock(devices: Sequence[Device], lock_dir: Path) -> tuple[Device, int] | None:
    """Take the first free device's lock without waiting; return it with the locked fd, or None."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for device in devices:
        fd = os.open(lock_dir / f"gpu{device.index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return device, fd
    return None


def acquire(devices: Sequence[Device], lock_dir: Path, poll_s: float = 0.2) -> tuple[Device, int]:
    """Wait until a device is free and lock it (more GPU jobs than devices queue here)."""
    waited = False
    while True:
        got = try_lock(devices, lock_dir)
        if got is not None:
            return got
        if not waited:
            log.info("all %d GPUs busy (locks in %s); waiting", len(devices), lock_dir)
            waited = True
        time.sleep(poll_s)


def prepare_env(env: dict[str, str], lock_dir: Path | None = None) -> tuple[dict[str, str], int | None, str]:
    """Decide the command's environment. Returns (env, lock fd to keep open or None, what was done)."""
    env = dict(env)
    slurm = f" SLURM_JOB_ID={env['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in env else ""
    if "CUDA_VISIBLE_DEVICES" in env:
        return env, None, f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} (already set, honoured){slurm}"
    devices = list_devices(env)
    if not devices:
        return env, None, f"no GPU found, running on the CPU{slurm}"
    lock_dir = lock_dir or Path(env.get(LOCK_DIR_ENV) or default_lock_dir())
    device, fd = acquire(devices, lock_dir)
    env["CUDA_VISIBLE_DEVICES"] = device.visible_id
    return env, fd, f"CUDA_VISIBLE_DEVICES={device.visible_id} (locked {lock_dir}/gpu{device.index}.lock){slurm}"


def exec_on_free_gpu(command: Sequence[str]) -> None:
    """Pick the device, log the choice on stderr, and exec ``command`` holding the device's lock."""
    if not command:
        raise ValueError("gpu-run: no command given; usage: srloss gpu-run -- <command> [args...]")
    env, fd, what = prepare_env(dict(os.environ))
    log.info("gpu-run pid=%d: %s", os.getpid(), what)
    if fd is not None:
        os.set_inheritable(fd, True)  # the command holds the lock until it exits
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.execvpe(command[0], list(command), env)
