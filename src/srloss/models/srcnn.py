"""SRCNN (Dong et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2016).

Pre-upsampling: the LR image is first upscaled with bicubic interpolation, then refined by
three convolutions, 9x9 (64) -> 1x1 (32) -> 5x5 (3), the "9-1-5" network. Convolutions are
zero-padded so the output has the size of the bicubic input (the paper used valid convolutions
and a smaller output). ``residual=True`` predicts the difference to the bicubic image (global
residual learning, as in VDSR), which reaches the bicubic baseline from the first step; the
paper's network is ``residual=False``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from srloss.models import MODELS
from srloss.models.base import BICUBIC_RADIUS, SRModel
from srloss.ops import imresize, reference_frame
from srloss.options import Option


@MODELS.register("srcnn")
class SRCNN(SRModel):
    scales = (2, 3, 4, 8)
    options = (
        Option("channels", 64, "filters of the 9x9 layer", type=int, ge=1),
        Option("hidden", 32, "filters of the 1x1 layer", type=int, ge=1),
        Option("residual", False, "predict the difference to the bicubic image", type=bool),
    )

    def __init__(self, scale: int, **options: Any):
        super().__init__(scale, **options)
        self.body = nn.Sequential(
            nn.Conv2d(3, self.channels, 9, padding=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.channels, self.hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.hidden, 3, 5, padding=2),
        )
        if self.residual:  # start as the identity on top of bicubic
            nn.init.normal_(self.body[-1].weight, std=1e-3)
            nn.init.zeros_(self.body[-1].bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        up = imresize(reference_frame(lr), self.scale)
        out = self.body(up)
        return up + out if self.residual else out

    def receptive_radius(self) -> int:  # bicubic, then 9x9 and 5x5 at HR
        return BICUBIC_RADIUS + math.ceil(6 / self.scale) + 1
