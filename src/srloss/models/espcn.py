"""ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", CVPR 2016).

Post-upsampling: features are computed at LR resolution, 5x5 (64) -> 3x3 (32) -> 3x3
(3·scale²), tanh activations, then a pixel shuffle rearranges channels into a scale× larger
image. ``residual=True`` adds the bicubic upscaled input to the output (global residual
learning); the paper's network is ``residual=False``.
"""

from __future__ import annotations

import torch
from torch import nn

from srloss.data.degrade import imresize
from srloss.models import reference_frame


class ESPCN(nn.Module):
    scales = (2, 3, 4, 8)
    trainable = True
    frames = None

    def __init__(self, scale: int, channels: int = 64, hidden: int = 32, residual: bool = False):
        super().__init__()
        self.scale = scale
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(hidden, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        if residual:
            nn.init.normal_(self.body[-2].weight, std=1e-3)
            nn.init.zeros_(self.body[-2].bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr = reference_frame(lr)
        out = self.body(lr)
        return imresize(lr, self.scale) + out if self.residual else out
