"""Learning-rate schedules as pure functions of the step (so resuming needs only the step).

``training.schedule`` in the config (``ScheduleSettings``), one of:

* ``{name: none}``: constant learning rate;
* ``{name: step, step_size: N, gamma: g}``: multiply by g every N steps;
* ``{name: multistep, milestones: [a, b, ...], gamma: g}``: multiply by g at each milestone
  (ESRGAN: milestones [50k, 100k, 200k, 300k], gamma 0.5);
* ``{name: cosine, min_factor: f}``: cosine annealing from the base rate to f x base over the
  run (Loshchilov & Hutter, SGDR, 2017, without restarts).

Every schedule also takes ``warmup: W`` (default 0): a linear ramp over the first W steps.
The factor multiplies both the generator's and the discriminator's base learning rates.

Pure Python (no torch): the study's checks and the config schema are made from these declarations.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from srloss.options import Option, OptionError, Settings, setting


def _constant(s: "ScheduleSettings", done: int, total: int) -> float:
    return 1.0


def _step(s: "ScheduleSettings", done: int, total: int) -> float:
    return s.gamma ** (done // s.step_size)


def _multistep(s: "ScheduleSettings", done: int, total: int) -> float:
    return s.gamma ** bisect.bisect_right(sorted(s.milestones), done)


def _cosine(s: "ScheduleSettings", done: int, total: int) -> float:
    progress = done / max(1, total - 1)
    return s.min_factor + (1 - s.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


# name -> (the options it requires, its factor as a function of the steps done before this one)
SCHEDULES: dict[str, tuple[tuple[str, ...], Callable[["ScheduleSettings", int, int], float]]] = {
    "none": ((), _constant),
    "step": (("step_size",), _step),
    "multistep": (("milestones",), _multistep),
    "cosine": ((), _cosine),
}


STEP = Option("", 1, "", type=int, ge=1)  # an optimiser step (1-based)


@dataclass(frozen=True)
class ScheduleSettings(Settings):
    """``training.schedule``: a factor on the base learning rate, a function of the step."""

    name: str = setting("none", "none, step, multistep or cosine (see each option)", choices=tuple(SCHEDULES))
    step_size: int | None = setting(None, "step: multiply by gamma every step_size steps.", ge=1)
    milestones: tuple[int, ...] | None = setting(
        None,
        "multistep: multiply by gamma at each of these steps.",
        min_items=1,
        item=Option("", 1, "", type=int, ge=1),
    )
    gamma: float = setting(0.5, "step, multistep: the factor.", gt=0)
    min_factor: float = setting(0.0, "cosine: final rate / base rate.", ge=0, le=1)
    warmup: int = setting(0, "Linear warm-up over the first N steps.", ge=0)

    @classmethod
    def check_together(cls, values: dict) -> None:
        for option in SCHEDULES[values["name"]][0]:
            if values[option] is None:
                raise OptionError(option, f"required by schedule {values['name']!r}")


def lr_factor(schedule: ScheduleSettings | Mapping, step: int, total_steps: int) -> float:
    """Factor applied to the base learning rate for (1-based) optimiser step ``step``."""
    if not isinstance(schedule, ScheduleSettings):
        schedule = ScheduleSettings.from_dict(schedule)
    factor = SCHEDULES[schedule.name][1](schedule, step - 1, total_steps)
    if schedule.warmup and step <= schedule.warmup:
        factor *= step / schedule.warmup
    return factor
