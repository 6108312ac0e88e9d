"""SRResNet, the generator of SRGAN (Ledig et al., "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", CVPR 2017).

conv 9x9 (nf) + PReLU -> ``blocks`` residual blocks (conv 3x3, BN, PReLU, conv 3x3, BN, skip)
-> conv 3x3 + BN, plus a long skip -> sub-pixel upsampling stages (conv 3x3 to nf·r²,
PixelShuffle(r), PReLU) -> conv 9x9 (3). Stages compose to exactly the scale: x2 = one 2x,
x3 = one 3x, x4 = two 2x, x8 = three 2x. ``batch_norm=False`` drops the BN layers (as EDSR
and ESRGAN recommend for SR). Defaults (nf 64, 16 blocks, BN) are the paper's: 1,549,462
parameters at x4 (PReLU slopes and BN affine parameters included).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from srloss.models import MODELS
from srloss.models.base import SRModel
from srloss.models.rrdbnet import UPSAMPLE_STAGES
from srloss.ops import reference_frame
from srloss.options import Option


def _norm(nf: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(nf) if batch_norm else nn.Identity()


class ResidualBlock(nn.Module):
    def __init__(self, nf: int, batch_norm: bool):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf, 3, padding=1),
            _norm(nf, batch_norm),
            nn.PReLU(),
            nn.Conv2d(nf, nf, 3, padding=1),
            _norm(nf, batch_norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@MODELS.register("srresnet")
class SRResNet(SRModel):
    scales = tuple(UPSAMPLE_STAGES)
    options = (
        Option("nf", 64, "feature channels", type=int, ge=1),
        Option("blocks", 16, "number of residual blocks", type=int, ge=1),
        Option("batch_norm", True, "batch norm in the residual blocks (SRGAN: true; EDSR/ESRGAN: false)", type=bool),
    )

    def __init__(self, scale: int, **options: Any):
        super().__init__(scale, **options)
        nf, batch_norm = self.nf, self.batch_norm
        self.head = nn.Sequential(nn.Conv2d(3, nf, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(
            *[ResidualBlock(nf, batch_norm) for _ in range(self.blocks)],
            nn.Conv2d(nf, nf, 3, padding=1),
            _norm(nf, batch_norm),
        )
        stages = []
        for r in UPSAMPLE_STAGES[scale]:
            stages += [nn.Conv2d(nf, nf * r * r, 3, padding=1), nn.PixelShuffle(r), nn.PReLU()]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(nf, 3, 9, padding=4)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr = reference_frame(lr)
        feat = self.head(lr)
        feat = feat + self.body(feat)
        return self.tail(self.upsample(feat))

    def receptive_radius(self) -> int:  # head 9x9, 2 convs per block, body conv, stages, tail 9x9 at HR
        return 4 + 2 * self.blocks + 1 + len(self.upsample) // 3 + math.ceil(4 / self.scale) + 1
