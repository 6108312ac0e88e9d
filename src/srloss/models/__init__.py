"""Model registry: a config's ``arch`` name maps to an ``nn.Module`` class.

Each class takes ``scale`` plus its own keyword options, and declares:

* ``scales``: the scale factors it supports (others are rejected when the config loads);
* ``trainable``: False for parameter-free baselines, which are evaluated without training;
* ``frames``: the number of input frames of a multi-frame model (input N×T×C×h×w), or None for
  a single-image model (input N×C×h×w). A single-image model given a multi-frame batch
  super-resolves its reference frame, index T//2 (``reference_frame``), so every model can run
  on multi-frame data as a baseline.

Adding a model: write the class in its own module and add one entry to ``MODELS``.

``DISCRIMINATORS`` maps the ``discriminator`` name of an adversarial loss term to a class
taking keyword options only (``discriminator_options``); ``forward(img NCHW) -> logits``.
"""

from __future__ import annotations

import torch
from torch import nn


def reference_frame(x: torch.Tensor) -> torch.Tensor:
    """The reference frame (index T//2) of a multi-frame batch N×T×C×h×w; N×C×h×w passes through.

    Defined before the model modules are imported, because they use it.
    """
    if x.ndim == 5:
        return x[:, x.shape[1] // 2]
    if x.ndim != 4:
        raise ValueError(f"expected an image batch N×C×H×W or a frame batch N×T×C×H×W, got shape {tuple(x.shape)}")
    return x


from srloss.models.bicubic import Bicubic  # noqa: E402
from srloss.models.discriminators import UNetDiscriminatorSN, VGGDiscriminator  # noqa: E402
from srloss.models.espcn import ESPCN  # noqa: E402
from srloss.models.rrdbnet import RRDBNet  # noqa: E402
from srloss.models.srcnn import SRCNN  # noqa: E402
from srloss.models.srresnet import SRResNet  # noqa: E402
from srloss.models.unet_geu import UNetGEU  # noqa: E402

MODELS: dict[str, type[nn.Module]] = {
    "bicubic": Bicubic,
    "srcnn": SRCNN,
    "espcn": ESPCN,
    "rrdbnet": RRDBNet,
    "srresnet": SRResNet,
    "unet_geu": UNetGEU,
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
