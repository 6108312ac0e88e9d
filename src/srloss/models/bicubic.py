"""The bicubic baseline: MATLAB-compatible bicubic upscaling, no parameters, no training."""

from __future__ import annotations

import torch

from srloss.models import MODELS
from srloss.models.base import BICUBIC_RADIUS, SRModel
from srloss.ops import imresize, reference_frame


@MODELS.register("bicubic")
class Bicubic(SRModel):
    """Upscale by ``scale`` with the same bicubic kernel that made the LR images."""

    scales = (2, 3, 4, 8)
    trainable = False

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return imresize(reference_frame(lr), self.scale)

    def receptive_radius(self) -> int:
        return BICUBIC_RADIUS
