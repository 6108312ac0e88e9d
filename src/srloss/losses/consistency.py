"""Downsampled-space consistency: the SR image, downscaled, must give back the LR input.

loss = mean((LR − bicubic_down(SR))²), with the same MATLAB-compatible bicubic kernel that made
the LR images (``srloss.ops.resize.imresize``, differentiable), so an SR image consistent
with the degradation scores exactly 0. Uses ``context["lr"]`` (its reference frame for a
multi-frame batch); the HR image is not used. Combine it with other terms to keep
perceptual/adversarial outputs faithful to the input.
"""

from __future__ import annotations

import torch

from srloss.losses import LOSS_TERMS
from srloss.losses.base import LossTerm
from srloss.ops import imresize, reference_frame


@LOSS_TERMS.register("downsampled")
class DownsampledLoss(LossTerm):
    """Mean squared error between the LR input and the bicubic-downscaled SR image."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor | None = None, context: dict | None = None) -> torch.Tensor:
        if not context or "lr" not in context:
            raise KeyError(
                "downsampled loss: the context has no 'lr' image; it compares the downscaled SR with the LR input"
            )
        lr = reference_frame(context["lr"])
        scale = sr.shape[-1] // lr.shape[-1]
        if scale < 1 or tuple(sr.shape[-2:]) != (lr.shape[-2] * scale, lr.shape[-1] * scale):
            raise ValueError(
                f"downsampled loss: SR size {tuple(sr.shape[-2:])} is not an integer multiple of LR size "
                f"{tuple(lr.shape[-2:])}"
            )
        return torch.mean((imresize(sr, 1.0 / scale) - lr) ** 2)
