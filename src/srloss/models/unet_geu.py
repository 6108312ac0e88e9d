"""A multi-frame U-Net for face sequences in the spirit of "U-Net+GEU".

The multi-frame face study (Rajnoha et al., MLFDB, Applied Sciences 2020) names its network
"U-Net+GEU" (U-Net with gated enhancement units) but the sources available to this project
describe the block design only by name. THIS IS A RECONSTRUCTION, not the authors' network:
the design below is ours, built from the standard pieces the name points to, and results
obtained with it should be reported as "U-Net+GEU (reconstruction)".

Input N×T×C×h×w (T = ``frames``, 7 by default, reference frame at index T//2); output
N×C×(scale·h)×(scale·w).

1. Frame embedding: a shared conv 3x3 (nf) + LeakyReLU 0.2 applied to every frame.
2. Gated fusion: each frame's features f_t get a per-pixel gate
   g_t = sigmoid(conv3x3([f_t, f_ref])) (how much frame t agrees with the reference, a light
   temporal attention as in EDVR's TSA), and a 1x1 conv fuses concat_t(g_t · f_t) to nf.
3. U-Net at LR resolution, ``depth`` levels: at each level a gated enhancement unit (GEU),
   then a stride-2 conv that doubles the channels; a GEU bottleneck; the decoder mirrors it
   with sub-pixel 2x upsampling (conv to 2·c, PixelShuffle(2) gives c/2 channels),
   concatenation with the skip, a 1x1 merge conv and a GEU. Input sizes that are not a multiple
   of 2^depth are padded (replicate) and cropped back.
4. GEU: y = x + B(x) · sigmoid(G(x)), with B = conv3x3 -> LeakyReLU -> conv3x3 and G a conv3x3:
   a residual enhancement whose contribution is gated per pixel and channel.
5. A long skip adds the fused features to the U-Net output; then log2(scale) sub-pixel stages
   (conv3x3 to 4·nf, PixelShuffle(2), LeakyReLU) reach x2, x4 or x8, and a conv3x3 gives RGB.
6. ``residual=True`` (default) adds the bicubic upscaled reference frame, so the network
   learns the detail missing from it.

With the defaults (nf 64, depth 2, 7 frames) the network has 5,312,003 parameters at x8
(5,016,579 at x2, 5,164,291 at x4).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from srloss.models import MODELS
from srloss.models.base import BICUBIC_RADIUS, SRModel
from srloss.ops import imresize
from srloss.options import Option


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class GEU(nn.Module):
    """Gated enhancement unit: y = x + B(x) · sigmoid(G(x))."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), _act(), nn.Conv2d(ch, ch, 3, padding=1))
        self.gate = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * torch.sigmoid(self.gate(x))


class GatedFusion(nn.Module):
    """Fuse T frames' features, each weighted by a gate computed against the reference frame."""

    def __init__(self, ch: int, frames: int):
        super().__init__()
        self.gate = nn.Conv2d(2 * ch, ch, 3, padding=1)
        self.fuse = nn.Conv2d(frames * ch, ch, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # N×T×ch×h×w -> N×ch×h×w
        n, t, c, h, w = feats.shape
        ref = feats[:, t // 2 : t // 2 + 1].expand(-1, t, -1, -1, -1)
        pairs = torch.cat([feats, ref], 2).reshape(n * t, 2 * c, h, w)
        gates = torch.sigmoid(self.gate(pairs)).reshape(n, t, c, h, w)
        return self.fuse((feats * gates).reshape(n, t * c, h, w))


@MODELS.register("unet_geu")
class UNetGEU(SRModel):
    scales = (2, 4, 8)
    frames = 7  # default; the ``frames`` option overrides it per instance
    options = (
        Option("frames", 7, "input frames per sample (reference frame T//2)", type=int, ge=1),
        Option("nf", 64, "feature channels at LR resolution", type=int, ge=1),
        Option("depth", 2, "U-Net levels", type=int, ge=1),
        Option("residual", True, "add the bicubic upscaled reference frame", type=bool),
    )

    def __init__(self, scale: int, **options: Any):
        super().__init__(scale, **options)
        nf, depth, frames = self.nf, self.depth, self.frames
        self.embed = nn.Sequential(nn.Conv2d(3, nf, 3, padding=1), _act())
        self.fusion = GatedFusion(nf, frames)
        chans = [nf * 2**i for i in range(depth + 1)]
        self.enc = nn.ModuleList([GEU(chans[i]) for i in range(depth)])
        self.down = nn.ModuleList([nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1) for i in range(depth)])
        self.bottleneck = GEU(chans[depth])
        self.up = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(chans[i + 1], 2 * chans[i + 1], 3, padding=1), nn.PixelShuffle(2), _act())
                for i in range(depth)
            ]
        )
        self.merge = nn.ModuleList([nn.Conv2d(2 * chans[i], chans[i], 1) for i in range(depth)])
        self.dec = nn.ModuleList([GEU(chans[i]) for i in range(depth)])
        stages = []
        for _ in range(int(math.log2(scale))):
            stages += [nn.Conv2d(nf, 4 * nf, 3, padding=1), nn.PixelShuffle(2), _act()]
        self.upsample = nn.Sequential(*stages)
        self.conv_last = nn.Conv2d(nf, 3, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 5 or frames.shape[1] != self.frames:
            raise ValueError(f"unet_geu: expected a frame batch N×{self.frames}×C×H×W, got shape {tuple(frames.shape)}")
        n, t, c, h, w = frames.shape
        feats = self.embed(frames.reshape(n * t, c, h, w))
        fused = self.fusion(feats.reshape(n, t, -1, h, w))
        mult = 2**self.depth
        x = F.pad(fused, (0, -w % mult, 0, -h % mult), mode="replicate")
        skips = []
        for enc, down in zip(self.enc, self.down):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for i in reversed(range(self.depth)):
            x = self.dec[i](self.merge[i](torch.cat([self.up[i](x), skips[i]], 1)))
        x = x[..., :h, :w] + fused
        out = self.conv_last(self.upsample(x))
        if self.residual:
            out = out + imresize(frames[:, t // 2], self.scale)
        return out

    def receptive_radius(self) -> int:
        """Embed + gate (2), per level: encoder GEU (2), down conv (1 + stride), up conv, decoder GEU."""
        levels = sum(7 * 2**i + 2 * 2 ** (i + 1) for i in range(self.depth))
        return 2 + levels + 2 * 2**self.depth + int(math.log2(self.scale)) + 1 + BICUBIC_RADIUS

    def alignment(self) -> int:
        """Tiles start on, and span, a multiple of 2^depth, so the strided grid and the replicate
        padding match the whole image's."""
        return 2**self.depth
