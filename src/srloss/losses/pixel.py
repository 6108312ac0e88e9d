"""Pixel losses: compare SR and HR images value by value, in [0, 1] intensities."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from srloss.losses import LOSS_TERMS
from srloss.losses.base import LossTerm, WindowedTerm
from srloss.losses.structural import odd_window
from srloss.ops.kernels import gaussian_profile
from srloss.options import Option


@LOSS_TERMS.register("mse")
class MSELoss(LossTerm):
    """Mean squared error, mean((sr - hr)^2). Maximising PSNR is minimising this."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean((sr - hr) ** 2)


@LOSS_TERMS.register("l1")
class L1Loss(LossTerm):
    """Mean absolute error, mean(|sr - hr|)."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean(torch.abs(sr - hr))


@LOSS_TERMS.register("gaussian_l1")
class GaussianL1Loss(WindowedTerm):
    """Gaussian-weighted L1: the mean over valid positions p of sum_q G_sigma(q - p) |sr - hr|(q).

    The L1 part of the Mix loss of Zhao, Gallo, Frosio & Kautz, "Loss Functions for Image
    Restoration with Neural Networks" (IEEE TCI 2017), Mix = alpha (1 - MS-SSIM) + (1 - alpha)
    G_sigma . L1 with alpha = 0.84. The paper evaluates its losses at the centre pixel of a
    patch: the L1 error of the patch weighted by the normalised Gaussian window of its largest
    MS-SSIM scale, sigma = 8 (their MS-SSIM uses sigma = 0.5, 1, 2, 4, 8; the authors' code
    ``MSSSIML1`` weights |error| by that window). Sliding the centre over every valid position
    of a larger patch gives this mean: each interior pixel then weighs 1/(valid positions), as
    in L1, and pixels within ``window // 2`` of the border weigh less (only windows that hold
    them count). On a patch the size of the window it is the paper's centre-pixel value.
    ``window``: side of the truncated window, default 49 = 2 * ceil(3 sigma) + 1 (+-3 sigma).
    """

    options = (
        Option("sigma", 8.0, "standard deviation of the Gaussian weighting in pixels (8: Zhao et al.)", gt=0),
        Option(
            "window",
            49,
            "side of the Gaussian window, odd (49: +-3 sigma for sigma 8)",
            type=int,
            ge=1,
            parse=odd_window,
        ),
    )

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.register_buffer("profile", gaussian_profile(self.window, self.sigma).float(), persistent=False)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        if sr.shape != hr.shape or sr.ndim != 4 or min(sr.shape[-2:]) < self.window:
            raise ValueError(
                f"gaussian_l1: expected SR and HR batches NxCxHxW of the same shape with sides of at least "
                f"{self.window} pixels (the window), got {tuple(sr.shape)} and {tuple(hr.shape)}"
            )
        c = sr.shape[1]
        g = self.profile.to(sr.dtype)
        err = torch.abs(sr - hr)  # the window is separable: two 1-D passes, valid region
        err = F.conv2d(err, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
        err = F.conv2d(err, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return err.mean()


@LOSS_TERMS.register("charbonnier")
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


@LOSS_TERMS.register("huber")
class HuberLoss(LossTerm):
    """Huber loss (Huber 1964): mean of ½d² where |d| < delta, else delta·(|d| − ½delta), d = sr − hr.

    Quadratic for small errors, linear (robust) for large ones. The default delta = 1.0 is
    torch's; on [0, 1] images every error is then below delta and the loss is ½·MSE, so pick
    a delta of the size of the errors you want treated robustly (e.g. 0.01, 2.5 grey levels).
    """

    options = (Option("delta", 1.0, "error size where the loss turns from quadratic to linear", gt=0),)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return nn.functional.huber_loss(sr, hr, delta=self.delta)


@LOSS_TERMS.register("smooth_l1")
class SmoothL1Loss(LossTerm):
    """Smooth L1 (Girshick, Fast R-CNN 2015) = Huber / beta: ½d²/beta where |d| < beta, else |d| − ½beta.

    Tends to L1 as beta -> 0. Default beta = 1.0 as in torch (see ``HuberLoss`` on choosing it).
    """

    options = (Option("beta", 1.0, "error size where the loss turns from quadratic to linear", gt=0),)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return nn.functional.smooth_l1_loss(sr, hr, beta=self.beta)
