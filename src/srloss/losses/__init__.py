"""Loss registry: a loss term's config ``name`` maps to an ``nn.Module`` class.

A term is called as ``term(sr, hr, context)`` and returns a scalar tensor; ``context`` carries
extra inputs some terms need (e.g. the LR image). Its keyword options come from the config.
A configured loss is a weighted sum of terms (``CompositeLoss``).

Adding a loss: write the class and add one entry to ``LOSS_TERMS``.

The ``adversarial`` term owns a discriminator; ``srloss.train`` finds it in the built loss and
trains the discriminator alternately with the generator.
"""

from __future__ import annotations

from torch import nn

from srloss.losses.adversarial import AdversarialLoss
from srloss.losses.composite import CompositeLoss
from srloss.losses.consistency import DownsampledLoss
from srloss.losses.perceptual import LPIPSLoss, ResNetFeatureLoss, VGGFeatureLoss
from srloss.losses.pixel import CharbonnierLoss, HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from srloss.losses.regularizers import TVLoss
from srloss.losses.structural import MSSSIMLoss, SSIMLoss
from srloss.losses.texture import GramLoss

LOSS_TERMS: dict[str, type[nn.Module]] = {
    "mse": MSELoss,
    "l1": L1Loss,
    "charbonnier": CharbonnierLoss,
    "huber": HuberLoss,
    "smooth_l1": SmoothL1Loss,
    "ssim": SSIMLoss,
    "ms_ssim": MSSSIMLoss,
    "vgg": VGGFeatureLoss,
    "resnet": ResNetFeatureLoss,
    "lpips": LPIPSLoss,
    "gram": GramLoss,
    "tv": TVLoss,
    "downsampled": DownsampledLoss,
    "adversarial": AdversarialLoss,
}


def build_loss(terms: list[dict]) -> CompositeLoss:
    """Build a ``CompositeLoss`` from the config's term list.

    Each term is ``{"name": ..., "weight": ..., "label": optional, **options}``; the label
    defaults to the name, suffixed with its position when a name repeats, and with
    ``-random`` when the term uses a randomly initialised backbone (``backbone_weights:
    random``), so logs never show it as the real loss.
    """
    names = [t["name"] for t in terms]
    built = []
    for i, term in enumerate(terms):
        name = term["name"]
        if name not in LOSS_TERMS:
            raise KeyError(f"unknown loss term {name!r}; valid choices: {', '.join(sorted(LOSS_TERMS))}")
        options = {k: v for k, v in term.items() if k not in ("name", "weight", "label")}
        label = term.get("label") or (name if names.count(name) == 1 else f"{name}_{i}")
        if options.get("backbone_weights") == "random" and not label.endswith("-random"):
            label += "-random"
        built.append((label, term.get("weight", 1.0), LOSS_TERMS[name](**options)))
    return CompositeLoss(built)
