"""Model registry: a config's ``arch`` name maps to an ``SRModel`` class (``srloss.models.base``).

Each class takes ``scale`` plus its declared keyword options and declares the scales it
supports, whether it is trained, and how many frames it reads (see ``SRModel``).

Adding a model: write the class in its own module and add one entry to ``MODELS``.

``DISCRIMINATORS`` maps the ``discriminator`` name of an adversarial loss term to a
``Discriminator`` class taking keyword options only (``discriminator_options``);
``forward(img NCHW) -> logits``.
"""

from __future__ import annotations

from torch import nn

from srloss.models.base import SRModel
from srloss.models.bicubic import Bicubic
from srloss.models.discriminators import Discriminator, UNetDiscriminatorSN, VGGDiscriminator
from srloss.models.espcn import ESPCN
from srloss.models.rrdbnet import RRDBNet
from srloss.models.srcnn import SRCNN
from srloss.models.srresnet import SRResNet
from srloss.models.unet_geu import UNetGEU
from srloss.ops import reference_frame

__all__ = [
    "DISCRIMINATORS",
    "MODELS",
    "SRModel",
    "build_discriminator",
    "build_model",
    "count_parameters",
    "reference_frame",
]

MODELS: dict[str, type[SRModel]] = {
    "bicubic": Bicubic,
    "srcnn": SRCNN,
    "espcn": ESPCN,
    "rrdbnet": RRDBNet,
    "srresnet": SRResNet,
    "unet_geu": UNetGEU,
}

DISCRIMINATORS: dict[str, type[Discriminator]] = {
    "vgg": VGGDiscriminator,
    "unet": UNetDiscriminatorSN,
}


def build_model(arch: str, scale: int, options: dict | None = None) -> SRModel:
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


def build_discriminator(name: str, options: dict | None = None) -> Discriminator:
    """Instantiate discriminator ``name`` (a key of ``DISCRIMINATORS``) with ``options``."""
    if name not in DISCRIMINATORS:
        raise KeyError(f"unknown discriminator {name!r}; valid choices: {', '.join(sorted(DISCRIMINATORS))}")
    return DISCRIMINATORS[name](**(options or {}))
