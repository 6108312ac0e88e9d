"""What a run has done so far, saved as its resumable checkpoint (``srloss.training.checkpoint``).

``RunState`` holds the history rows, the best weights by validation PSNR-Y, the last weights
known to be finite, the validation PSNR-Y, the weight hash and the first step's loss before
training (for run health), and the logging window in progress. ``save`` writes it with the
networks, the optimisers and every RNG; ``resume_or_start`` restores all of them, so a resumed
CPU run is bitwise identical to an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from srloss.training import checkpoint
from srloss.training.meter import Window, WindowMeter
from srloss.training.setup import Batches, Networks, weights_sha256

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """The progress of one run (everything but the networks, which ``Networks`` holds)."""

    fingerprint: str
    meter: WindowMeter
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"psnr": -math.inf, "step": None, "state": None})
    good: dict = field(default_factory=lambda: {"step": 0, "state": None})  # last weights known finite
    initial: dict = field(default_factory=lambda: {"val_psnr_y": None, "weights_sha256": None, "loss": None})
    steps_done: int = 0
    diverged_at: int | None = None
    seconds_before: float = 0.0
    resumed_from: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    @property
    def seconds(self) -> float:
        return self.seconds_before + time.time() - self.started

    def begin(self, net: Networks, initial_val_psnr: float) -> None:
        """Before the first step: remember the starting weights and their validation PSNR-Y."""
        self.initial = {"val_psnr_y": initial_val_psnr, "weights_sha256": weights_sha256(net.model), "loss": None}
        self.good = {"step": 0, "state": _device_copy(net.model)}
        self.history.append({"step": 0, "val_psnr_y": initial_val_psnr})

    def log_window(self, window: Window, val_psnr: float | None, net: Networks) -> None:
        """A finite window ended: one history row; the best weights; the new last-finite weights."""
        if self.initial["loss"] is None:  # the first window: its first loss is the loss before training
            self.initial["loss"] = window.first_loss
        self.history.append({"step": window.step, **window.means, "val_psnr_y": "" if val_psnr is None else val_psnr})
        if val_psnr is not None and val_psnr > self.best["psnr"]:
            self.best = {"psnr": val_psnr, "step": window.step, "state": checkpoint.cpu_state_dict(net.model)}
        self.good = {"step": window.step, "state": _device_copy(net.model)}
        self.steps_done = window.step

    def diverge(self, net: Networks, step: int) -> None:
        """A NaN/Inf appeared at ``step``: go back to the last finite weights and stop."""
        self.diverged_at = step
        net.model.load_state_dict(self.good["state"])
        self.steps_done = self.good["step"]
        log.warning(
            "diverged at step %d: a loss value is NaN or Inf; stopping this run with the weights of step %d",
            step,
            self.steps_done,
        )

    def save(self, path: Path | None, net: Networks, batches: Batches, step: int) -> None:
        """Write the resumable checkpoint for the state after ``step`` (no-op without a path)."""
        if path is None:
            return
        checkpoint.save(
            path,
            {
                "fingerprint": self.fingerprint,
                "step": step,
                "model": net.model.state_dict(),
                "optimizer": net.optimizer.state_dict(),
                "discriminator": net.adv.discriminator.state_dict() if net.adv else None,
                "d_optimizer": net.d_optimizer.state_dict() if net.d_optimizer else None,
                "history": self.history,
                "best": self.best,
                "rng": checkpoint.rng_state(batches.sampler),
                "seconds": self.seconds,
                "resumed_from": self.resumed_from,
                "meter": self.meter.state_dict(),
                "good": {"step": self.good["step"], "state": _cpu(self.good["state"])},
                "initial": self.initial,
            },
        )

    def restore(self, saved: dict, net: Networks, batches: Batches) -> None:
        """Load a checkpoint ``save`` wrote (its fingerprint already checked)."""
        net.model.load_state_dict(saved["model"])
        net.optimizer.load_state_dict(saved["optimizer"])
        if net.adv is not None:
            net.adv.discriminator.load_state_dict(saved["discriminator"])
            net.d_optimizer.load_state_dict(saved["d_optimizer"])
        self.history, self.best, self.initial = saved["history"], saved["best"], saved["initial"]
        self.meter.load_state_dict(saved["meter"])
        device = next(net.model.parameters()).device
        good = saved["good"]
        self.good = {"step": good["step"], "state": {k: v.to(device) for k, v in good["state"].items()}}
        self.steps_done, self.seconds_before = saved["step"], saved["seconds"]
        self.resumed_from = saved["resumed_from"] + [saved["step"]]
        checkpoint.set_rng_state(saved["rng"], batches.sampler)

    @classmethod
    def resume_or_start(
        cls, path: Path | None, fingerprint: str, meter: WindowMeter, net: Networks, batches: Batches, n_steps: int
    ) -> "RunState":
        """This run's state from its checkpoint, if an earlier attempt left one; else a fresh one."""
        state = cls(fingerprint, meter)
        saved = checkpoint.load(path, fingerprint) if path is not None else None
        if saved is not None and saved["step"] >= n_steps:
            saved = None  # a finished run's kept checkpoint: a rerun trains from scratch
        if saved is not None:
            state.restore(saved, net, batches)
            log.info("resumed from %s at step %d", path, state.steps_done)
        return state


def _device_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the state dict on the model's device (no host transfer)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
