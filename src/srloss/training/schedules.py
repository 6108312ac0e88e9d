"""Learning-rate schedules as pure functions of the step (so resuming needs only the step).

``training.schedule`` in the config, one of:

* ``{name: none}``: constant learning rate;
* ``{name: step, step_size: N, gamma: g}``: multiply by g every N steps;
* ``{name: multistep, milestones: [a, b, ...], gamma: g}``: multiply by g at each milestone
  (ESRGAN: milestones [50k, 100k, 200k, 300k], gamma 0.5);
* ``{name: cosine, min_factor: f}``: cosine annealing from the base rate to f x base over the
  run (Loshchilov & Hutter, SGDR, 2017, without restarts).

Every schedule also takes ``warmup: W`` (default 0): a linear ramp over the first W steps.
The factor multiplies both the generator's and the discriminator's base learning rates.
"""

from __future__ import annotations

import bisect
import math

SCHEDULES = ("none", "step", "multistep", "cosine")
REQUIRED = {"none": (), "step": ("step_size",), "multistep": ("milestones",), "cosine": ()}


def lr_factor(schedule: dict, step: int, total_steps: int) -> float:
    """Factor applied to the base learning rate for (1-based) optimiser step ``step``."""
    name = schedule.get("name", "none")
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid choices: {', '.join(SCHEDULES)}")
    done = step - 1  # steps completed before this one
    gamma = schedule.get("gamma", 0.5)
    if name == "none":
        factor = 1.0
    elif name == "step":
        factor = gamma ** (done // schedule["step_size"])
    elif name == "multistep":
        factor = gamma ** bisect.bisect_right(sorted(schedule["milestones"]), done)
    else:  # cosine
        floor = schedule.get("min_factor", 0.0)
        progress = done / max(1, total_steps - 1)
        factor = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    warmup = schedule.get("warmup", 0)
    if warmup and step <= warmup:
        factor *= step / warmup
    return factor
