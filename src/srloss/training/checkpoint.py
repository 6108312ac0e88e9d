"""Resumable training state: save it atomically, load it only for the run that wrote it.

A checkpoint is one ``torch.save`` dict of tensors and plain values (so ``torch.load(...,
weights_only=True)`` reads it): the networks, the optimisers, the step, the history so far,
the best weights, and the RNG states of Python, NumPy, torch (CPU and CUDA) and the batch
sampler. Restoring all of them makes a resumed CPU run bitwise identical to an uninterrupted
one. The learning-rate schedule is a pure function of the step (``srloss.training.schedules``), so the
step is the scheduler's whole state.

Each checkpoint carries a fingerprint of the run's spec and training data; a checkpoint with
another fingerprint (the config or the data changed since it was written) is ignored, so a
changed run never resumes from a stale state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import signal
from pathlib import Path
from types import FrameType

import numpy as np
import torch

from srloss.atomic import atomic_path

log = logging.getLogger(__name__)

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)  # what SLURM sends before preempting or at --signal


def fingerprint(spec: dict, *data_ids: str) -> str:
    """A stable hash of a run's spec and the identities of its data (e.g. shard spec hashes)."""
    text = json.dumps({"spec": spec, "data": list(data_ids)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def rng_state(sampler: torch.Generator) -> dict:
    """Every RNG the training loop draws from, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "sampler": sampler.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, sampler: torch.Generator) -> None:
    """Restore what ``rng_state`` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    sampler.set_state(state["sampler"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def tensor_bytes(obj) -> int:
    """The bytes of every tensor in a nested structure of dicts, lists and tuples (what torch.save writes)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def save_tensors(obj, path: str | Path) -> None:
    """``torch.save`` atomically, after checking that the tensors fit on the disk (``DiskFull`` naming
    the file and the space otherwise: torch's own error on a full disk says neither). Saved through a
    file object, so the zip's folder is always ``archive/`` (a path would name it after the temporary
    file): the same tensors give the same bytes, and users can compare runs by checksum."""
    with atomic_path(path, size_hint=tensor_bytes(obj)) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def save(path: str | Path, state: dict) -> None:
    """Write a checkpoint atomically: a crash or signal mid-write leaves the previous one intact."""
    save_tensors(state, path)


def load(path: str | Path, expected_fingerprint: str) -> dict | None:
    """The checkpoint at ``path`` if it exists and belongs to this run, else None."""
    path = Path(path)
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("fingerprint") != expected_fingerprint:
        log.warning("%s was written for another spec or other data; ignoring it and starting from scratch", path)
        return None
    return state


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's state dict (safe to keep while training goes on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


class PreemptionSignals:
    """Context manager: while active, SIGTERM/SIGUSR1 set ``received`` instead of killing us.

    The training loop polls ``received`` between steps, saves its checkpoint and exits non-zero,
    so the job is retried (Snakemake ``retries``) or requeued (SLURM) and resumes. The previous
    handlers are restored on exit. Only the main thread can install handlers; elsewhere this
    does nothing.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = PREEMPTION_SIGNALS):
        self.signals = signals
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.warning("received %s; will checkpoint and stop after the current step", signal.Signals(signum).name)
        self.received = signum

    def __enter__(self) -> "PreemptionSignals":
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in self.signals}
        except ValueError:  # not the main thread
            self._previous = {}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
