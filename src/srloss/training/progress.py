"""The progress line at every log point, the run's heartbeat file, and optional TensorBoard scalars.

One line per window: ``step 150/1000 (15%) | 41.2 steps/s | ETA 0:00:21 | lr 1.00e-04 |
loss 0.01234 mse 0.01234 | val PSNR-Y 30.120 dB``. steps/s is measured over the window (after
the window's sync, so it is the device's real pace); the ETA uses the pace of this attempt so far.

The heartbeat, ``progress.json`` in the run folder, says the same to ``srloss status`` (which
reads files only): written when the attempt starts and at each logging window (at most once
every ``HEARTBEAT_EVERY_S`` seconds), removed when the run finishes. Its keys: ``step``,
``total`` (steps), ``steps_per_s`` (over the last window; null before the first), ``log_every``,
``start_step`` (where this attempt began), ``started`` and ``updated`` (Unix time, seconds),
``pid``, ``host``, ``device``. A heartbeat that stops being updated is a run that stopped
without finishing (killed, preempted, its node lost).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Callable

from srloss.atomic import write_text

log = logging.getLogger(__name__)

HEARTBEAT = "progress.json"  # in the run folder while the run trains, like checkpoint.pt (never an output)
HEARTBEAT_EVERY_S = 5.0  # a fast run logging every few steps writes it no more often than this


def open_tensorboard(log_dir: Path):
    """A ``SummaryWriter`` on ``log_dir``; a clear error when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise RuntimeError(
            "training.tensorboard is true but the tensorboard package is not installed; "
            "install it (pip install tensorboard) or set training.tensorboard: false"
        ) from e
    return SummaryWriter(log_dir=str(log_dir))


def progress_line(
    step: int,
    n_steps: int,
    rate: float,
    eta_s: float | None,
    lr: float,
    means: dict[str, float],
    val_psnr: float | None,
) -> str:
    """One human-readable line (see the module docstring)."""
    eta = "?" if eta_s is None else str(datetime.timedelta(seconds=round(eta_s)))
    terms = " ".join(f"{k} {v:.5g}" for k, v in means.items())
    line = (
        f"step {step}/{n_steps} ({100 * step / n_steps:.0f}%) | {rate:.2f} steps/s | ETA {eta} | lr {lr:.2e} | {terms}"
    )
    return line + (f" | val PSNR-Y {val_psnr:.3f} dB" if val_psnr is not None else "")


class Heartbeat:
    """``progress.json`` (see the module docstring): where this attempt stands, rewritten atomically.

    ``clock``: the time in seconds (``time.time``; a test passes its own)."""

    def __init__(
        self,
        path: Path,
        n_steps: int,
        start_step: int,
        log_every: int,
        device: str,
        clock: Callable[[], float] = time.time,
    ):
        self.path, self.clock = path, clock
        self.fixed = {
            "total": n_steps,
            "log_every": log_every,
            "start_step": start_step,
            "started": round(clock(), 1),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "device": device,
        }
        self.last_write: float | None = None
        self.beat(start_step, None)

    def beat(self, step: int, rate: float | None) -> None:
        """Record ``step`` and the last window's ``rate`` (steps/s), unless written moments ago."""
        now = self.clock()
        if self.last_write is not None and now - self.last_write < HEARTBEAT_EVERY_S:
            return
        pace = None if rate is None else round(rate, 3)
        values = {**self.fixed, "step": step, "steps_per_s": pace, "updated": round(now, 1)}
        write_text(self.path, json.dumps(values, sort_keys=True) + "\n")
        self.last_write = now

    def remove(self) -> None:
        """The run finished: its outputs say the rest."""
        self.path.unlink(missing_ok=True)


class Progress:
    """Logs each window; ``tensorboard_dir`` (or None) also receives every value as a scalar, and
    ``heartbeat`` (or None) the step and pace."""

    def __init__(
        self,
        n_steps: int,
        start_step: int,
        tensorboard_dir: Path | None = None,
        heartbeat: Heartbeat | None = None,
    ):
        self.n_steps, self.start_step = n_steps, start_step
        self.t0 = self.t_last = time.perf_counter()
        self.last_step = start_step
        self.writer = open_tensorboard(tensorboard_dir) if tensorboard_dir is not None else None
        self.heartbeat = heartbeat

    def log(self, step: int, means: dict[str, float], val_psnr: float | None, lr: float) -> None:
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.t_last, 1e-9)
        pace = (step - self.start_step) / max(now - self.t0, 1e-9)
        eta = (self.n_steps - step) / pace if pace > 0 else None
        self.t_last, self.last_step = now, step
        log.info(progress_line(step, self.n_steps, rate, eta, lr, means, val_psnr))
        if self.heartbeat is not None:
            self.heartbeat.beat(step, rate)
        if self.writer is not None:
            for name, value in means.items():
                self.writer.add_scalar(f"train/{name}", value, step)
            self.writer.add_scalar("train/lr", lr, step)
            self.writer.add_scalar("train/steps_per_s", rate, step)
            if val_psnr is not None:
                self.writer.add_scalar("val/psnr_y", val_psnr, step)

    def log_initial(self, val_psnr: float) -> None:
        log.info("step 0/%d: val PSNR-Y %.3f dB before training", self.n_steps, val_psnr)
        if self.writer is not None:
            self.writer.add_scalar("val/psnr_y", val_psnr, 0)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
