"""Model registry: a config's ``arch`` name maps to an ``nn.Module`` class.

Each class takes ``scale`` plus its own keyword options, and declares:

* ``scales``: the scale factors it supports (others are rejected when the config loads);
* ``trainable``: False for parameter-free baselines, which are evaluated without training.

Adding a model: write the class in its own module and add one entry to ``MODELS``.

``DISCRIMINATORS`` maps the ``discriminator`` name of an adversarial loss term to a class
taking keyword options only (``discriminator_options``); ``forward(img NCHW) -> logits``.
"""

from __future__ import annotations

from torch import nn

from srloss.models.bicubic import Bicubic
from srloss.models.discriminators import UNetDiscriminatorSN, VGGDiscriminator
from srloss.models.espcn import ESPCN
from srloss.models.srcnn import SRCNN

MODELS: dict[str, type[nn.Module]] = {
    "bicubic": Bicubic,
    "srcnn": SRCNN,
    "espcn": ESPCN,
}

DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "vgg": VGGDiscriminator,
    "unet": UNetDiscriminatorSN,
}


def build_model(arch: str, scale: int, options: dict | None = None) -> nn.Module:
    """Instantiate model ``arch`` at ``scale`` with ``options`` (already validated by the config)."""
    if arch not in MODELS:
        raise KeyError(f"unknown model architecture {arch!r}; valid choices: {', '.join(sorted(MODELS))}")
    cls = MODELS[arch]
    if scale not in cls.scales:
        raise ValueError(f"model {arch!r} does not support scale {scale}; supported: {list(cls.scales)}")
    return cls(scale, **(options or {}))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_discriminator(name: str, options: dict | None = None) -> nn.Module:
    """Instantiate discriminator ``name`` (a key of ``DISCRIMINATORS``) with ``options``."""
    if name not in DISCRIMINATORS:
        raise KeyError(f"unknown discriminator {name!r}; valid choices: {', '.join(sorted(DISCRIMINATORS))}")
    return DISCRIMINATORS[name](**(options or {}))
