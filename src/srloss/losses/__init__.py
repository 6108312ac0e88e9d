"""Loss registry: a loss term's config ``name`` maps to a ``LossTerm`` class (``srloss.losses.base``).

A term is called as ``term(sr, hr, context)`` and returns a scalar tensor; ``context`` carries
extra inputs some terms need (e.g. the LR image). Its keyword options come from the config and
are declared (and validated) by its class. A configured loss is a weighted sum of terms
(``CompositeLoss``).

Adding a loss: write the class (see ``LossTerm``) and add one entry to ``LOSS_TERMS``.

The ``adversarial`` term owns a discriminator; ``srloss.training.loop`` finds it in the built loss and
trains the discriminator alternately with the generator.
"""

from __future__ import annotations

from srloss.losses.adversarial import AdversarialLoss
from srloss.losses.base import LossTerm
from srloss.losses.composite import CompositeLoss
from srloss.losses.consistency import DownsampledLoss
from srloss.losses.perceptual import LPIPSLoss, ResNetFeatureLoss, VGGFeatureLoss
from srloss.losses.pixel import CharbonnierLoss, GaussianL1Loss, HuberLoss, L1Loss, MSELoss, SmoothL1Loss
from srloss.losses.regularizers import TVLoss
from srloss.losses.structural import MSSSIMLoss, SSIMLoss
from srloss.losses.texture import GramLoss

LOSS_TERMS: dict[str, type[LossTerm]] = {
    "mse": MSELoss,
    "l1": L1Loss,
    "gaussian_l1": GaussianL1Loss,
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

TERM_KEYS = ("name", "weight", "label")  # the keys of a config term that are not the class's options


def term_class(name: str) -> type[LossTerm]:
    """The class of loss term ``name``; ``KeyError`` listing the valid names otherwise."""
    if name not in LOSS_TERMS:
        raise KeyError(f"unknown loss term {name!r}; valid choices: {', '.join(sorted(LOSS_TERMS))}")
    return LOSS_TERMS[name]


def term_options(term: dict) -> dict:
    """A config term's options: every key except ``name``, ``weight`` and ``label``."""
    return {k: v for k, v in term.items() if k not in TERM_KEYS}


def term_labels(terms: list[dict]) -> list[str]:
    """The label each term is logged under.

    The label defaults to the name, suffixed with its position when a name repeats, and with
    ``-random`` when the term uses a randomly initialised backbone (``backbone_weights:
    random``), so logs never show it as the real loss.
    """
    names = [t["name"] for t in terms]
    labels = []
    for i, term in enumerate(terms):
        label = term.get("label") or (term["name"] if names.count(term["name"]) == 1 else f"{term['name']}_{i}")
        if term.get("backbone_weights") == "random" and not label.endswith("-random"):
            label += "-random"
        labels.append(label)
    return labels


def build_loss(terms: list[dict]) -> CompositeLoss:
    """Build a ``CompositeLoss`` from the config's term list ``[{"name", "weight", "label", **options}]``."""
    built = []
    for label, term in zip(term_labels(terms), terms):
        built.append((label, term.get("weight", 1.0), term_class(term["name"])(**term_options(term))))
    return CompositeLoss(built)


def required_backbones(terms: list[dict]) -> list[str]:
    """The pretrained weight files a loss's terms load (sorted, no duplicates; none for random backbones)."""
    needed: set[str] = set()
    for term in terms:
        cls = term_class(term["name"])
        needed.update(cls.backbones(cls.check_options(**term_options(term))))
    return sorted(needed)
