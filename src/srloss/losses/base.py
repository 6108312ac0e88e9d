"""The loss-term protocol: one class per term, its options and needs declared on the class.

A term is called as ``term(sr, hr, context)`` and returns a scalar tensor; ``context`` carries
extra inputs some terms need (e.g. the LR image). What the config may set is declared, not
inferred: ``options`` (see ``srloss.options``), the pretrained ``backbones`` the term loads,
whether a negative weight makes sense (``allows_negative_weight``), the smallest training
patch it works on (``check_patch_size``) and the precision it needs (``precision``). The study
config is checked with exactly these declarations before any job runs (``srloss.study``).

Adding a loss term: subclass ``LossTerm``, declare ``options``, write ``forward``, and register
the class where it is defined: ``@LOSS_TERMS.register("name")``. A term built on an ImageNet
network subclasses ``srloss.losses.backbones.BackboneTerm`` and names its network in ``backbone``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from srloss.options import Configurable, OptionError


class LossTerm(Configurable, nn.Module):
    """Base class of every loss term: validates and stores its declared options."""

    allows_negative_weight: ClassVar[bool] = False  # a term whose negation is meaningful says so
    # "fp32": computed in float32 even inside bf16 autocast (``CompositeLoss`` disables autocast and
    # casts the images): bf16 keeps 8 bits of mantissa, too few for means, variances and
    # covariances of nearby values (SSIM's sigma_xy - mu_x mu_y cancels), or for small differences.
    # Terms are cheap next to the network; a term on a large frozen network (``BackboneTerm``) or
    # the discriminator says "autocast" and keeps bf16 where it is fast.
    precision: ClassVar[str] = "fp32"

    def __init__(self, **options: Any):
        super().__init__()
        self._set_options(options)

    @classmethod
    def backbones(cls, options: dict[str, Any]) -> list[str]:
        """Names of the pretrained weight files (``srloss.weights.WEIGHT_FILES``) the term loads."""
        return []

    @classmethod
    def check_patch_size(cls, options: dict[str, Any], patch_size: int) -> None:
        """Raise ``OptionError`` if the term cannot run on square HR patches of ``patch_size`` pixels."""

    @abstractmethod
    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        """The term's value on a batch: a scalar tensor."""


class WindowedTerm(LossTerm):
    """A term computed over a sliding ``window`` option (SSIM, Gaussian-weighted L1): the window
    must fit in the training patches."""

    @classmethod
    def check_patch_size(cls, options: dict[str, Any], patch_size: int) -> None:
        if patch_size < options["window"]:
            raise OptionError(
                "window", f"a {options['window']}-pixel window does not fit in {patch_size}-pixel patches"
            )
