"""Run health: did a training run learn anything, and may its result be ranked?

``classify`` reads what a run logged (its history rows, the validation PSNR-Y before the first
step, whether any generator weight changed) and returns one class, first match wins:

* ``diverged at step N``: a loss value was NaN or Inf at step N; training stopped there.
* ``untrained``: the final generator weights are bitwise equal to the initial ones. Typical
  cause: gradients that overflow Adam's second moment (a loss weight of 1e38 makes g² = inf, so
  every update m / sqrt(v) is exactly 0) or underflow it; the loss stays finite throughout.
* ``runaway at step N``: the run ended far worse than it started and had been so since step N,
  either because the loss's window mean ended above ``first + max((factor - 1) * |first|,
  margin)`` (``first`` = the loss of step 1, computed on the starting weights, or else the
  first window's mean; factor 10: an order of magnitude above the
  start is no longer noise for a loss that should fall; the absolute margin 0.01 keeps a
  near-zero start from turning a tiny rise into a runaway, 0.01 being an MSE of 20 dB PSNR on
  [0, 1] images), or because validation PSNR-Y ended more than 5 dB below its value before
  training. 5 dB is beyond the largest gap the GAN literature accepts between a perceptual model
  and its PSNR-oriented start (SRGAN/ESRGAN lose 2.3-2.7 dB on Set5/Set14/B100/Urban100 x4).
  Only the end counts: a spike the run recovered from is not a runaway.
* ``stalled``: validation PSNR-Y never moved more than 0.05 dB away from its value before
  training. 0.05 dB is below what any comparison of SR methods reports (tables give 0.01 dB
  digits, but differences under 0.05 dB are not claimed as improvements) and well above the
  numerical noise of evaluating the same weights (about 1e-6 dB).
* ``completed``: none of the above.

Pure Python: the training loop calls it, tests call it on hand-made histories.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

CLASSES = ("completed", "diverged", "runaway", "stalled", "untrained")


@dataclass(frozen=True)
class Thresholds:
    """Where each class starts (the module docstring gives the reasoning)."""

    runaway_loss_factor: float = 10.0
    runaway_loss_margin: float = 0.01
    collapse_db: float = 5.0
    stall_db: float = 0.05


@dataclass(frozen=True)
class Health:
    """A run's class: ``status`` is what run.json records (its first word is the class)."""

    status: str
    detail: str
    numbers: dict = field(default_factory=dict)

    @property
    def word(self) -> str:
        return self.status.split()[0]

    def as_record(self) -> dict:
        """run.json's ``health``: the class word, a sentence, and the numbers it rests on."""
        return {"status": self.word, "detail": self.detail, **self.numbers}


def _series(rows: list[dict], key: str, first_step: int = 1) -> list[tuple[int, float]]:
    """(step, value) of the rows where ``key`` holds a number, from ``first_step`` on."""
    out = []
    for row in rows:
        value = row.get(key, "")
        if value not in ("", None) and int(row["step"]) >= first_step and not math.isnan(float(value)):
            out.append((int(row["step"]), float(value)))
    return out


def _trailing_start(series: list[tuple[int, float]], bad) -> int | None:
    """The step from which every value up to the end satisfies ``bad``; None if the last does not."""
    start = None
    for step, value in reversed(series):
        if not bad(value):
            break
        start = step
    return start


def _loss_runaway(rows: list[dict], initial_loss: float | None, t: Thresholds) -> tuple[int, str] | None:
    losses = _series(rows, "loss")
    if not losses or (initial_loss is None and len(losses) < 2):
        return None
    first = initial_loss if initial_loss is not None else losses[0][1]
    limit = first + max((t.runaway_loss_factor - 1) * abs(first), t.runaway_loss_margin)
    start = _trailing_start(losses if initial_loss is not None else losses[1:], lambda v: v > limit)
    if start is None:
        return None
    return start, (
        f"the loss rose from {first:.4g} at the start to a window mean of {losses[-1][1]:.4g} "
        f"(limit {limit:.4g}) and stayed above the limit from step {start} on"
    )


def _psnr_collapse(rows: list[dict], initial: float | None, t: Thresholds) -> tuple[int, str] | None:
    vals = _series(rows, "val_psnr_y")
    if initial is None or not vals:
        return None
    floor = initial - t.collapse_db
    start = _trailing_start(vals, lambda v: v < floor)
    if start is None:
        return None
    return start, (
        f"validation PSNR-Y fell from {initial:.2f} dB before training to {vals[-1][1]:.2f} dB, "
        f"more than {t.collapse_db:g} dB below its start, from step {start} on"
    )


def _numbers(
    rows: list[dict], initial: float | None, initial_loss: float | None, weights_changed: bool, t: Thresholds
) -> dict:
    losses, vals = _series(rows, "loss"), _series(rows, "val_psnr_y")
    moves = [abs(v - initial) for _, v in vals] if initial is not None else []
    return {
        "initial_loss": initial_loss,
        "first_window_loss": losses[0][1] if losses else None,
        "last_window_loss": losses[-1][1] if losses else None,
        "initial_val_psnr_y": initial,
        "final_val_psnr_y": vals[-1][1] if vals else None,
        "largest_val_change_db": max(moves) if moves else None,
        "weights_changed": weights_changed,
        "thresholds": asdict(t),
    }


def classify(
    history: list[dict],
    initial_val_psnr: float | None,
    weights_changed: bool,
    diverged_at: int | None = None,
    initial_loss: float | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Health:
    """The run's class from its history rows (``step``, ``loss``, ``val_psnr_y``; "" where not
    logged), its validation PSNR-Y before training, whether any generator weight changed, the
    first step with a NaN/Inf loss (if any) and the loss of step 1 (on the starting weights)."""
    t = thresholds
    numbers = _numbers(history, initial_val_psnr, initial_loss, weights_changed, t)
    if diverged_at is not None:
        numbers["diverged_at"] = diverged_at
        detail = f"a loss value was NaN or Inf at step {diverged_at}; training stopped there"
        return Health(f"diverged at step {diverged_at}", detail, numbers)
    if not weights_changed:
        detail = "the final generator weights are bitwise equal to the initial ones: no update changed any weight"
        return Health("untrained", detail, numbers)
    runaway = [
        r
        for r in (_loss_runaway(history, initial_loss, t), _psnr_collapse(history, initial_val_psnr, t))
        if r is not None
    ]
    if runaway:
        step = min(s for s, _ in runaway)
        return Health(f"runaway at step {step}", "; ".join(d for _, d in runaway), {**numbers, "runaway_from": step})
    largest = numbers["largest_val_change_db"]
    if largest is not None and largest <= t.stall_db:
        detail = (
            f"validation PSNR-Y never moved more than {t.stall_db:g} dB from its {initial_val_psnr:.3f} dB "
            f"before training (largest change {largest:.4f} dB)"
        )
        return Health("stalled", detail, numbers)
    detail = "training ran to the end"
    if largest is not None:
        detail += f"; validation PSNR-Y went from {initial_val_psnr:.2f} to {numbers['final_val_psnr_y']:.2f} dB"
    return Health("completed", detail, numbers)
