"""RRDBNet, the ESRGAN generator (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks", ECCV Workshops 2018).

conv 3x3 (nf) -> ``blocks`` Residual-in-Residual Dense Blocks -> conv 3x3, plus a long skip
from the first conv; then upsampling stages at feature level (nearest-neighbour interpolation
followed by conv 3x3 + LeakyReLU 0.2, ESRGAN's design); then conv 3x3 + LeakyReLU, conv 3x3 (3).
Each RRDB is three dense blocks of five convs (growth ``gc`` channels) with residual scaling
0.2 inside and around them. Initialisation: Kaiming normal scaled by 0.1 (the paper's).

Upsampling stages compose to exactly the requested factor: x2 = one 2x stage, x3 = one 3x
stage, x4 = two 2x stages, x8 = three 2x stages. (A well-known toolbox builds two 2x stages for
every scale, so its "x3" and "x8" models output 4x.) With the defaults (nf 64, gc 32, 23
blocks) the x4 network has 16,697,987 parameters, the published ESRGAN generator's count.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from srloss.models import MODELS
from srloss.models.base import SRModel
from srloss.ops import reference_frame
from srloss.options import Option

UPSAMPLE_STAGES = {2: (2,), 3: (3,), 4: (2, 2), 8: (2, 2, 2)}  # per-stage factors, product = scale


def _init(modules: list[nn.Module], scale: float = 0.1) -> None:
    for m in modules:
        nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
        m.weight.data.mul_(scale)
        nn.init.zeros_(m.bias)


class DenseBlock(nn.Module):
    """Five 3x3 convs, each fed the concatenation of the input and all previous outputs."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, padding=1) for i in range(5)])
        _init(list(self.convs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, 1))
            if i < 4:
                feats.append(F.leaky_relu(out, 0.2))
        return x + 0.2 * out


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks and a scaled residual around them."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.blocks = nn.Sequential(DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


@MODELS.register("rrdbnet")
class RRDBNet(SRModel):
    scales = tuple(UPSAMPLE_STAGES)
    options = (
        Option("nf", 64, "feature channels", type=int, ge=1),
        Option("gc", 32, "growth channels of the dense blocks", type=int, ge=1),
        Option("blocks", 23, "number of RRDBs", type=int, ge=1),
    )

    def __init__(self, scale: int, **options: Any):
        super().__init__(scale, **options)
        nf, gc = self.nf, self.gc
        self.stages = UPSAMPLE_STAGES[scale]
        self.conv_first = nn.Conv2d(3, nf, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(self.blocks)])
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_up = nn.ModuleList([nn.Conv2d(nf, nf, 3, padding=1) for _ in self.stages])
        self.conv_hr = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, 3, 3, padding=1)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        lr = reference_frame(lr)
        feat = self.conv_first(lr)
        feat = feat + self.conv_body(self.body(feat))
        for factor, conv in zip(self.stages, self.conv_up):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=factor, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))

    def receptive_radius(self) -> int:  # first conv, 15 convs per RRDB, body conv, stages, hr + last
        return 1 + 15 * self.blocks + 1 + len(self.stages) + 2
