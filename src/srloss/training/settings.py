"""The ``training:`` section as typed settings.

Defaults: the config schema (``workflow/schemas/config.schema.yaml``) is their source. Snakemake
fills them into every study it validates, so the jobs of a workflow receive complete settings.
The dataclasses below carry the same values for specs written by hand (and for tests);
``tests/test_training_config.py`` fails if they ever differ from what Snakemake fills in.

The settings split in two. ``TrainingConfig`` holds what determines a run's result; it travels in
the run's spec (``Study.run_spec``), so changing it reruns the run. ``ExecutionConfig`` holds how
and where the run executes (threads, device, checkpoint cadence, logging); the train job receives
it outside its params, so changing it reruns nothing. ``compile`` counts as a result setting:
``torch.compile`` fuses operations and so changes the floating-point results slightly, like
``precision`` and ``channels_last``.

Pure Python (no torch): ``srloss.study`` and the Snakefile import it on every parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

EXECUTION_KEYS = ("threads", "device", "checkpoint_every", "keep_checkpoint", "log_every", "tensorboard")
SCHEDULE_DEFAULTS = {"name": "none", "gamma": 0.5, "min_factor": 0, "warmup": 0}


def result_settings(training: dict) -> dict:
    """The keys of ``training`` that determine a run's result (what the run spec carries)."""
    return {k: v for k, v in training.items() if k not in EXECUTION_KEYS}


def execution_settings(training: dict) -> dict:
    """The keys of ``training`` that only say how the run executes (defaults where absent)."""
    return {k: training.get(k, getattr(ExecutionConfig, k)) for k in EXECUTION_KEYS}


def _construct(cls: type, where: str, values: dict):
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
    return cls(**values)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """``training.discriminator``: the optimiser of an adversarial term's discriminator."""

    lr: float = 1.0e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0
    steps_per_g: int = 1
    clip: float = 0.01

    @classmethod
    def from_dict(cls, values: dict) -> "DiscriminatorConfig":
        values = dict(values)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return _construct(cls, "training.discriminator", values)


@dataclass(frozen=True)
class TrainingConfig:
    """What determines a run's result (the schema documents each key)."""

    steps: int = 1000
    epochs: int | None = None
    steps_per_epoch: int | None = None
    batch_size: int = 16
    lr: float = 1.0e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0
    schedule: dict = field(default_factory=lambda: dict(SCHEDULE_DEFAULTS))
    val_every: int = 100
    precision: str = "bf16"
    channels_last: bool = True
    deterministic: bool = False
    compile: bool = False
    discriminator: DiscriminatorConfig = DiscriminatorConfig()

    @classmethod
    def from_dict(cls, training: dict) -> "TrainingConfig":
        """From a run spec's ``training`` (missing keys take the defaults; execution keys are not
        accepted here, see ``ExecutionConfig``)."""
        values = dict(training)
        values["discriminator"] = DiscriminatorConfig.from_dict(values.get("discriminator", {}))
        values["schedule"] = {**SCHEDULE_DEFAULTS, **values.get("schedule", {})}
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return _construct(cls, "training", values)


@dataclass(frozen=True)
class ExecutionConfig:
    """How and where a run executes; changing these never changes (or reruns) a result."""

    threads: int = 1
    device: str = "auto"
    checkpoint_every: int = 500
    keep_checkpoint: bool = False
    log_every: int = 50
    tensorboard: bool = False

    @classmethod
    def from_dict(cls, execution: dict | None = None) -> "ExecutionConfig":
        """From ``execution_settings(config["training"])``; missing keys take the defaults."""
        return _construct(cls, "execution settings", dict(execution or {}))
