"""Pixel losses: compare SR and HR images value by value, in [0, 1] intensities."""

from __future__ import annotations

import torch
from torch import nn

from srloss.losses.base import LossTerm
from srloss.options import Option


class MSELoss(LossTerm):
    """Mean squared error, mean((sr - hr)^2). Maximising PSNR is minimising this."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean((sr - hr) ** 2)


class L1Loss(LossTerm):
    """Mean absolute error, mean(|sr - hr|)."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean(torch.abs(sr - hr))


class CharbonnierLoss(LossTerm):
    """Charbonnier loss, mean(sqrt((sr - hr)^2 + eps^2)), a differentiable L1.

    Lai et al., "Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution"
    (CVPR 2017). The default eps = 1e-3 is LapSRN's value and the one used by the
    multi-frame face study: on [0, 1] images it is a quarter of a grey level, so the loss
    behaves like L1 for any visible error while staying smooth at zero. As eps -> 0 it tends
    to L1 (the loss is offset from L1 by at most eps).
    """

    options = (Option("eps", 1e-3, "smoothing constant; the loss is within eps of L1", gt=0),)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean(torch.sqrt((sr - hr) ** 2 + self.eps**2))


class HuberLoss(LossTerm):
    """Huber loss (Huber 1964): mean of ½d² where |d| < delta, else delta·(|d| − ½delta), d = sr − hr.

    Quadratic for small errors, linear (robust) for large ones. The default delta = 1.0 is
    torch's; on [0, 1] images every error is then below delta and the loss is ½·MSE, so pick
    a delta of the size of the errors you want treated robustly (e.g. 0.01, 2.5 grey levels).
    """

    options = (Option("delta", 1.0, "error size where the loss turns from quadratic to linear", gt=0),)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return nn.functional.huber_loss(sr, hr, delta=self.delta)


class SmoothL1Loss(LossTerm):
    """Smooth L1 (Girshick, Fast R-CNN 2015) = Huber / beta: ½d²/beta where |d| < beta, else |d| − ½beta.

    Tends to L1 as beta -> 0. Default beta = 1.0 as in torch (see ``HuberLoss`` on choosing it).
    """

    options = (Option("beta", 1.0, "error size where the loss turns from quadratic to linear", gt=0),)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return nn.functional.smooth_l1_loss(sr, hr, beta=self.beta)
