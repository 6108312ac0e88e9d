"""Regularisers on the SR image alone: total variation.

With horizontal and vertical neighbour differences dx, dy of the SR image:

* ``form: l1``   mean|dx| + mean|dy| (anisotropic total variation);
* ``form: l2``   mean(dx²) + mean(dy²) (squared L2 TV);
* ``form: beta`` mean over pixels of (dx² + dy²)^(β/2) (the β-TV of Mahendran & Vedaldi,
  "Understanding Deep Image Representations by Inverting Them", CVPR 2015), over the pixels
  that have both neighbours; β = 1 is isotropic TV, β = 2 equals ``l2`` up to the border.

A constant image has TV 0 in every form. The HR image is not used.
"""

from __future__ import annotations

from typing import Any

import torch

from srloss.losses import LOSS_TERMS
from srloss.losses.base import LossTerm
from srloss.options import Option, OptionError

TV_FORMS = ("l1", "l2", "beta")


@LOSS_TERMS.register("tv")
class TVLoss(LossTerm):
    """Total variation of the SR image in one of three forms (see the module docstring)."""

    options = (
        Option("form", "l1", "l1 (anisotropic), l2 (squared) or beta (beta-TV)", type=str, choices=TV_FORMS),
        Option("beta", None, "exponent of the beta form (1 = isotropic TV)", gt=0, nullable=True),
    )

    @classmethod
    def check_together(cls, options: dict[str, Any]) -> None:
        form, beta = options["form"], options["beta"]
        if form == "beta" and beta is None:
            raise OptionError("beta", "form 'beta' needs a positive beta, got None")
        if form != "beta" and beta is not None:
            raise OptionError("beta", f"only used with form 'beta' (form is {form!r}); remove it or set form: beta")

    def forward(self, sr: torch.Tensor, hr: torch.Tensor | None = None, context: dict | None = None) -> torch.Tensor:
        dx = sr[..., :, 1:] - sr[..., :, :-1]
        dy = sr[..., 1:, :] - sr[..., :-1, :]
        if self.form == "l1":
            return dx.abs().mean() + dy.abs().mean()
        if self.form == "l2":
            return (dx**2).mean() + (dy**2).mean()
        sq = dx[..., :-1, :] ** 2 + dy[..., :, :-1] ** 2
        # (sq)^(β/2) has an infinite gradient at 0 for β < 2: clamp so flat regions stay finite.
        return sq.clamp_min(1e-12).pow(self.beta / 2).mean()
