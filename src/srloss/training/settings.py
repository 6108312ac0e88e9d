"""The ``training:`` section, declared once: every key's type, bounds, default and description.

The config schema's ``training`` section is generated from these classes, its defaults are their
defaults, and the jobs read them as typed settings (``TrainingConfig.from_dict``), so a key, a
default or a rule lives here and nowhere else.

The settings split in two. ``TrainingConfig`` holds what determines a run's result; it travels in
the run's spec (``Study.run_spec``), so changing it reruns the run. ``ExecutionConfig`` holds how
and where the run executes (threads, device, checkpoint cadence, logging); the train job receives
it outside its params, so changing it reruns nothing. ``compile`` counts as a result setting:
``torch.compile`` fuses operations and so changes the floating-point results slightly, like
``precision`` and ``channels_last``.

Pure Python (no torch): ``srloss.study`` and the Snakefile import it on every parse.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from srloss.options import Option, OptionError, Settings, setting
from srloss.training.schedules import ScheduleSettings

BETA = Option("", 0.9, "", ge=0, lt=1)  # an Adam beta


@dataclass(frozen=True)
class DiscriminatorConfig(Settings):
    """``training.discriminator``: the optimiser of an adversarial term's discriminator."""

    lr: float = setting(1.0e-4, "Adam learning rate of the discriminator.", gt=0)
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam betas of the discriminator.", item=BETA)
    weight_decay: float = setting(0.0, "Adam weight decay of the discriminator.", ge=0)
    steps_per_g: int = setting(
        1, "Discriminator steps per generator step (WGAN: 5); an adversarial term's steps_per_g overrides it.", ge=1
    )
    clip: float = setting(
        0.01, "wgan: clip discriminator weights to [-clip, clip]; an adversarial term's clip overrides it.", gt=0
    )


@dataclass(frozen=True)
class TrainingConfig(Settings):
    """What determines a run's result."""

    steps: int = setting(1000, "Optimiser steps per run (ignored when epochs is set).", ge=1)
    epochs: int | None = setting(None, "If set, the run lasts epochs x steps_per_epoch steps.", ge=1)
    steps_per_epoch: int | None = setting(
        None, "Steps per epoch; null = one pass over the training patches (ceil(patches / batch_size)).", ge=1
    )
    batch_size: int = setting(16, "Training patches per step.", ge=1)
    lr: float = setting(1.0e-4, "Adam learning rate.", gt=0)
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam betas.", item=BETA)
    weight_decay: float = setting(0.0, "Adam weight decay (L2 penalty).", ge=0)
    schedule: ScheduleSettings = setting(
        ScheduleSettings,
        "Learning-rate schedule, a function of the step (srloss.training.schedules); it scales the "
        "discriminator's rate too.",
    )
    val_every: int = setting(100, "Validate every N steps (and at the end).", ge=1)
    precision: str = setting(
        "bf16",
        "bf16 autocast on CUDA for the networks (CPU always runs fp32); loss terms other than network-based ones "
        "(vgg, resnet, lpips, gram, adversarial) are computed in fp32 either way.",
        choices=("bf16", "fp32"),
    )
    channels_last: bool = setting(True, "channels_last memory format on CUDA (no-op on CPU).")
    deterministic: bool = setting(False, "torch.use_deterministic_algorithms(True) (slower on GPU).")
    compile: bool = setting(
        False,
        "torch.compile the generator (falls back to eager with a warning where no compiler works). It changes "
        "floating-point results slightly, so changing it reruns the training jobs. Off by default: measured with "
        "bench/train_compile.py (batch 16, l1), it made steps slower on an H100 (SRCNN 0.93x, ESPCN 0.85x, "
        "SRResNet 0.60x) and faster on CPUs (8 threads: SRCNN 1.13x, ESPCN 1.22x) after 5 to 60 s of compiling "
        "per job, which short runs do not win back.",
    )
    discriminator: DiscriminatorConfig = setting(
        DiscriminatorConfig, "Optimiser of the discriminator of an adversarial loss term (ignored by other runs)."
    )

    @classmethod
    def check_together(cls, values: dict) -> None:
        if values["steps_per_epoch"] is not None and values["epochs"] is None:
            raise OptionError(
                "steps_per_epoch",
                "set epochs too (the run length is epochs x steps_per_epoch), or remove it and use steps",
            )


@dataclass(frozen=True)
class ExecutionConfig(Settings):
    """How and where a run executes; changing these never changes (or reruns) a result."""

    threads: int = setting(1, "CPU threads per training job (execution only: never reruns a job).", ge=1)
    device: str = setting(
        "auto",
        "auto (GPU if visible, else CPU), cpu, cuda, cuda:N (execution only: never reruns a job; in run.json).",
        pattern=r"auto|cpu|cuda(?::[0-9]+)?",
        pattern_doc="auto (a GPU if one is visible, else the CPU), cpu, cuda or cuda:N (N = GPU index)",
    )
    checkpoint_every: int = setting(
        500, "Write the resumable checkpoint every N steps (0 = only on SIGTERM/SIGUSR1). Execution only.", ge=0
    )
    keep_checkpoint: bool = setting(
        False,
        "Keep checkpoint.pt (final state with optimisers and discriminator) after a finished run. Execution only.",
    )
    log_every: int = setting(
        50,
        "Steps per logging window (execution only). Loss values stay on the device and are read once per window "
        "(and at each validation): history.csv gets one row per window (the window's mean), the log a progress "
        "line (step/total, steps/s, ETA, learning rate, every term). A NaN/Inf loss is caught at the end of its "
        "window, with the exact step it first appeared at. 50 keeps the host-device syncs under one per 50 steps "
        "while a 1000-step run still logs 20 points.",
        ge=1,
    )
    tensorboard: bool = setting(
        False, "Also write the logged values to <run dir>/tensorboard (`pip install tensorboard`). Execution only."
    )


EXECUTION_KEYS = tuple(f.name for f in fields(ExecutionConfig))


@dataclass(frozen=True)
class TrainingSection(ExecutionConfig, TrainingConfig):
    """The whole ``training:`` section of a study: result and execution settings together."""


def result_settings(training: dict) -> dict:
    """The keys of ``training`` that determine a run's result (what the run spec carries)."""
    return {k: v for k, v in training.items() if k not in EXECUTION_KEYS}


def execution_settings(training: dict) -> dict:
    """The keys of ``training`` that only say how the run executes (defaults where absent)."""
    defaults = ExecutionConfig()
    return {k: training.get(k, getattr(defaults, k)) for k in EXECUTION_KEYS}
