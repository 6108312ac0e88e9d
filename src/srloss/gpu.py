"""Give each GPU job its own device: ``srloss gpu-run -- <command>``.

Snakemake's ``--resources gpu=N`` only limits how many GPU jobs run at once; it never says
which device a job should use, so every job would pick ``cuda:0``. ``gpu-run`` picks a free
device by taking an exclusive ``flock`` on one lock file per device in a shared folder, sets
``CUDA_VISIBLE_DEVICES`` to that device and then *replaces itself* with the command
(``exec``). The lock file descriptor is inherited by the command, so the device stays taken
for exactly the command's lifetime (the kernel drops the lock when it exits, even on SIGKILL),
and signals such as SLURM's SIGTERM/SIGUSR1 reach the command directly.

Where ``CUDA_VISIBLE_DEVICES`` is already set, the job chooses among the devices it lists:

* inside a SLURM job (``SLURM_JOB_ID``) that lists one device, it is honoured unchanged: SLURM
  gave that device to this job alone (and numbers it from 0 in every job, so a lock would be wrong);
* otherwise (exported by hand on a workstation, or a SLURM allocation with several GPUs that
  runs several jobs) one of the listed devices is locked as above, so jobs never share a device;
  the locks of a SLURM allocation live in a folder of their own (its device numbers are its own).
  An empty ``CUDA_VISIBLE_DEVICES`` means no GPU: the command runs on the CPU.

Without it, devices come from ``SRLOSS_GPUS`` (comma-separated ids, for tests or to restrict a
machine; empty = none) or else ``nvidia-smi -L``; with no device the command runs on the CPU.
Locks live in ``SRLOSS_GPU_LOCK_DIR`` (default: a per-user folder in the system temporary
directory, so that several workflows on one machine share the devices politely).

``resolve_device`` turns a config's device string into a torch device at job start, refusing
``cuda`` where no GPU is visible with one line that says so (instead of a CUDA traceback).
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
from typing import TYPE_CHECKING, Mapping, Sequence

from srloss.errors import UserError

if TYPE_CHECKING:
    import torch

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


class DeviceError(UserError, ValueError):
    """A requested device does not exist here, or a device list is malformed."""


def _ids(variable: str, value: str) -> list[str]:
    ids = [s.strip() for s in value.split(",") if s.strip()]
    for i in ids:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", i):
            raise DeviceError(
                f"{variable}={value!r}: device id {i!r} must be an index or a UUID (letters, digits, '-', '_', '.')"
            )
    return ids


def _nvidia_smi() -> list[Device]:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else []


def list_devices(env: Mapping[str, str] | None = None) -> list[Device]:
    """The machine's GPUs: ``SRLOSS_GPUS`` if set, else ``nvidia-smi -L``; none → empty list."""
    env = os.environ if env is None else env
    if GPUS_ENV in env:
        return [Device(i, i) for i in _ids(GPUS_ENV, env[GPUS_ENV])]
    return _nvidia_smi()


def visible_devices(value: str) -> list[Device]:
    """The devices an exported ``CUDA_VISIBLE_DEVICES`` lists, each locked under its nvidia-smi
    index when nvidia-smi knows its UUID (so that its lock is the one other jobs take), else its id."""
    ids = _ids("CUDA_VISIBLE_DEVICES", value)
    known = {d.visible_id: d.index for d in _nvidia_smi()} if any(not i.isdigit() for i in ids) else {}
    return [Device(known.get(i, i), i) for i in ids]


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
    lock_dir = lock_dir or Path(env.get(LOCK_DIR_ENV) or default_lock_dir())
    exported = env.get("CUDA_VISIBLE_DEVICES")
    if exported is not None:
        devices = visible_devices(exported)
        if slurm and len(devices) == 1:
            return env, None, f"CUDA_VISIBLE_DEVICES={exported} (already set, honoured){slurm}"
        if not devices:
            return env, None, f"CUDA_VISIBLE_DEVICES is empty: no GPU, running on the CPU{slurm}"
        if slurm:
            lock_dir = lock_dir / f"slurm-{env['SLURM_JOB_ID']}"  # the allocation numbers its devices itself
        source = f" among the exported CUDA_VISIBLE_DEVICES={exported}"
    else:
        devices, source = list_devices(env), ""
        if not devices:
            return env, None, f"no GPU found, running on the CPU{slurm}"
    device, fd = acquire(devices, lock_dir)
    env["CUDA_VISIBLE_DEVICES"] = device.visible_id
    return (
        env,
        fd,
        f"CUDA_VISIBLE_DEVICES={device.visible_id} (locked {lock_dir}/gpu{device.index}.lock{source}){slurm}",
    )


def resolve_device(name: str = "auto", key: str = "device") -> "torch.device":
    """The torch device for a config value (``auto``, ``cpu``, ``cuda``, ``cuda:N``), checked to exist.

    ``auto`` is the first visible GPU, else the CPU. ``cuda`` where no GPU is visible (or
    ``cuda:N`` beyond the visible ones) is a ``DeviceError`` naming ``key`` and what is visible.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise DeviceError(f"{key}: {name!r} is not a device; valid choices: auto, cpu, cuda, cuda:N") from e
    if device.type == "cuda":
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if visible == 0 or (device.index is not None and device.index >= visible):
            built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA support"
            raise DeviceError(
                f"{key}: {name!r} requested, but this job sees {visible} CUDA GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}, "
                f"torch {torch.__version__} with {built}); set it to auto or cpu, or run the job where a GPU is"
            )
    return device


def job_gpu(device: "torch.device") -> dict:
    """Which GPU this job got, for its record: ``CUDA_VISIBLE_DEVICES`` as the job saw it (set by SLURM
    or by gpu-run; None where unset), the device's name where the job runs on a GPU, the SLURM job id."""
    name = None
    if device.type == "cuda":
        import torch

        name = torch.cuda.get_device_name(device)
    return {
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "name": name,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }


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
