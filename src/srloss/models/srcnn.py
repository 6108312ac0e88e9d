"""SRCNN (Dong et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2016).

Pre-upsampling: the LR image is first upscaled with bicubic interpolation, then refined by
three convolutions, 9x9 (64) -> 1x1 (32) -> 5x5 (3), the "9-1-5" network. Convolutions are
zero-padded so the output has the size of the bicubic input (the paper used valid convolutions
and a smaller output). ``residual=True`` predicts the difference to the bicubic image (global
residual learning, as in VDSR), which reaches the bicubic baseline from the first step; the
paper's network is ``residual=False``.
"""

from __future__ import annotations

import torch
from torch import nn

from srloss.data.degrade import imresize
from srloss.models import reference_frame


class SRCNN(nn.Module):
    scales = (2, 3, 4, 8)
    trainable = True
    frames = None

    def __init__(self, scale: int, channels: int = 64, hidden: int = 32, residual: bool = False):
        super().__init__()
        self.scale = scale
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 9, padding=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 3, 5, padding=2),
        )
        if residual:  # start as the identity on top of bicubic
            nn.init.normal_(self.body[-1].weight, std=1e-3)
            nn.init.zeros_(self.body[-1].bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr = reference_frame(lr)
        up = imresize(lr, self.scale)
        out = self.body(up)
        return up + out if self.residual else out
