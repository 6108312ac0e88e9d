"""The bicubic baseline: MATLAB-compatible bicubic upscaling, no parameters, no training."""

from __future__ import annotations

import torch
from torch import nn

from srloss.data.degrade import imresize
from srloss.models import reference_frame


class Bicubic(nn.Module):
    """Upscale by ``scale`` with the same bicubic kernel that made the LR images."""

    scales = (2, 3, 4, 8)
    trainable = False
    frames = None

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr = reference_frame(lr)
        return imresize(lr, self.scale)
