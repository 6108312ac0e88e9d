"""Everything a run needs before its first step: device, seeds, networks, optimisers, batches.

One run = one (dataset, model, loss, scale, seed). The generator comes from ``srloss.models``,
the loss from ``srloss.losses`` (an ``adversarial`` term owns the discriminator), both
optimisers are Adam. Batches are random patches of the training shard with a random dihedral
transform each, drawn by a seeded sampler whose state is checkpointed (``srloss.training.checkpoint``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from srloss.data.shards import PatchDataset
from srloss.losses.adversarial import AdversarialLoss
from srloss.losses.composite import CompositeLoss, build_loss
from srloss.models.base import build_model
from srloss.training.settings import TrainingConfig

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` means the first visible GPU if there is one, else the CPU."""
    from srloss.gpu import resolve_device

    return resolve_device(name, "training.device")  # 'cuda' with no GPU visible: one clear line, not a CUDA traceback


@contextlib.contextmanager
def deterministic_mode(enabled: bool):
    """While active, torch uses deterministic kernels only (errors on ops that have none).

    cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` for that; the previous setting is restored on exit,
    so an in-process caller's global state is left as it was.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def total_steps(cfg: TrainingConfig, n_patches: int) -> int:
    """``epochs`` x ``steps_per_epoch`` when epochs is set (one pass over the patches per epoch
    by default), else ``steps``."""
    if cfg.epochs is None:
        return cfg.steps
    per_epoch = cfg.steps_per_epoch or math.ceil(n_patches / cfg.batch_size)
    return cfg.epochs * per_epoch


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_sha256(module: torch.nn.Module) -> str:
    """A hash of a module's parameters, bit for bit (tells an untrained network from a trained one)."""
    h = hashlib.sha256()
    for name, p in module.named_parameters():
        h.update(name.encode() + p.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class Networks:
    """The generator (``model``; ``forward`` may be its compiled version), the loss, an
    adversarial term's discriminator (``adv``, or None) and the optimisers."""

    model: torch.nn.Module
    forward: Callable[[torch.Tensor], torch.Tensor]
    loss_fn: CompositeLoss
    adv: AdversarialLoss | None
    optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer | None
    autocast: contextlib.AbstractContextManager
    channels_last: bool
    compiled: bool = False

    @property
    def g_columns(self) -> list[str]:
        """What each generator step logs: the total loss and every term (unweighted)."""
        return ["loss", *self.loss_fn.labels]

    @property
    def d_columns(self) -> list[str]:
        """What each discriminator step logs (none without an adversarial term)."""
        return self.adv.log_columns if self.adv else []

    @property
    def columns(self) -> list[str]:
        return self.g_columns + self.d_columns


def load_init_weights(model: torch.nn.Module, init_weights: str | Path) -> str:
    """Load another run's generator (``losses.<name>.init_from``); return that run's status."""
    model.load_state_dict(torch.load(init_weights, map_location="cpu", weights_only=True))
    record = Path(init_weights).with_name("run.json")
    status = json.loads(record.read_text())["status"] if record.exists() else "unknown"
    log.info("generator initialised from %s (that run: %s)", init_weights, status)
    if status.split()[0] != "completed":
        log.warning(
            "the pre-training run %s did not complete healthily (%s); this run starts from its last weights",
            init_weights,
            status,
        )
    return status


def build_networks(spec: dict, cfg: TrainingConfig, device: torch.device) -> Networks:
    """Generator, loss and optimisers on ``device`` (channels_last and bf16 autocast on CUDA if configured)."""
    cuda = device.type == "cuda"
    model = build_model(spec["arch"], spec["scale"], spec["model_options"]).to(device)
    loss_fn = build_loss(spec["terms"]).to(device)
    adv = next((t for t in loss_fn.terms if isinstance(t, AdversarialLoss)), None)  # the config allows one
    channels_last = cuda and cfg.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
        if adv is not None:
            adv.discriminator.to(memory_format=torch.channels_last)
    bf16 = cuda and cfg.precision == "bf16"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    d_optimizer = None
    if adv is not None:
        d = cfg.discriminator
        d_optimizer = torch.optim.Adam(
            adv.discriminator.parameters(), lr=d.lr, betas=d.betas, weight_decay=d.weight_decay
        )
    return Networks(model, model, loss_fn, adv, optimizer, d_optimizer, autocast, channels_last)


def compile_generator(net: Networks, device: torch.device) -> None:
    """``training.compile``: use ``torch.compile(model)`` for the training steps (validation runs
    eagerly: whole images of varying sizes would recompile). If compiling a probe function fails
    (no working C++ compiler or Triton here), log a warning and train eagerly."""
    try:
        probe = torch.compile(lambda x: torch.sin(x) * 2)
        probe(torch.ones(4, device=device))
    except Exception as e:  # noqa: BLE001 - any compiler failure means: run eagerly
        log.warning(
            "training.compile: torch.compile does not work on this machine (%s: %s); training eagerly instead",
            type(e).__name__,
            str(e).splitlines()[0] if str(e) else "",
        )
        return
    net.forward = torch.compile(net.model)
    net.compiled = True


class Batches:
    """Random training batches: a seeded sampler draws (patch index, dihedral transform) pairs.

    Patches travel to the device as uint8 (4x less to move; pinned memory, asynchronous copy on
    CUDA) and become float in [0, 1] there.
    """

    def __init__(self, shard: str | Path, batch_size: int, seed: int, device: torch.device, channels_last: bool):
        self.data = PatchDataset(shard, as_uint8=True)
        self.batch_size, self.device, self.channels_last = batch_size, device, channels_last
        self.sampler = torch.Generator().manual_seed(seed)
        self.pin = device.type == "cuda"

    def __len__(self) -> int:
        return len(self.data)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.pin:
            t = t.pin_memory()
        t = t.to(self.device, non_blocking=True).float().div_(255)
        if self.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.data), (self.batch_size,), generator=self.sampler)
        codes = torch.randint(8, (self.batch_size,), generator=self.sampler)
        lr, hr = self.data.batch(idx.tolist(), codes.tolist())  # host-side indices: no device sync
        return self._to_device(lr), self._to_device(hr)
