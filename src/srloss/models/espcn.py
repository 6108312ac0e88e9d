"""ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", CVPR 2016).

Post-upsampling: features are computed at LR resolution, 5x5 (64) -> 3x3 (32) -> 3x3
(3·scale²), tanh activations, then a pixel shuffle rearranges channels into a scale× larger
image. ``residual=True`` adds the bicubic upscaled input to the output (global residual
learning); the paper's network is ``residual=False``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srloss.models import MODELS
from srloss.models.base import BICUBIC_RADIUS, SRModel
from srloss.ops import imresize, reference_frame
from srloss.options import Option


@MODELS.register("espcn")
class ESPCN(SRModel):
    scales = (2, 3, 4, 8)
    options = (
        Option("channels", 64, "filters of the first (5x5) layer", type=int, ge=1),
        Option("hidden", 32, "filters of the second (3x3) layer", type=int, ge=1),
        Option("residual", False, "add the bicubic upscaled input to the output", type=bool),
    )

    def __init__(self, scale: int, **options: Any):
        super().__init__(scale, **options)
        self.body = nn.Sequential(
            nn.Conv2d(3, self.channels, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(self.channels, self.hidden, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(self.hidden, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        if self.residual:
            nn.init.normal_(self.body[-2].weight, std=1e-3)
            nn.init.zeros_(self.body[-2].bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr = reference_frame(lr)
        out = self.body(lr)
        return imresize(lr, self.scale) + out if self.residual else out

    def receptive_radius(self) -> int:  # 5x5, 3x3, 3x3 at LR; residual bicubic
        return max(4, BICUBIC_RADIUS)
