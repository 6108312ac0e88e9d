"""Discriminators (critics) for adversarial losses: images NCHW in [0, 1] -> real/fake logits.

* ``VGGDiscriminator``: the VGG-style discriminator of SRGAN (Ledig et al. 2017) and ESRGAN
  (Wang et al. 2018): conv blocks doubling the channels while halving the resolution, then a
  two-layer classifier. ESRGAN's version flattens a fixed 4x4x512 map, so it only accepts
  128 px (or 256 px) patches; here the classifier follows a global average pool, and the
  stride-2 convolutions are 3x3 with padding 1 (output ceil(n/2)), so any patch size >= 1 px
  works. Output (N, 1).
* ``UNetDiscriminatorSN``: Real-ESRGAN's U-Net discriminator with spectral normalisation
  (Wang et al., "Real-ESRGAN", ICCVW 2021): an encoder of three stride-2 stages, a decoder that
  upsamples back with skip connections, and one logit per pixel. The decoder resizes to the
  skip's size, so odd patch sizes work too (>= 8 px). Output (N, 1, H, W).

A logits tensor of any shape is accepted by ``srloss.losses.adversarial``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from srloss.models import DISCRIMINATORS
from srloss.options import Configurable, Option

NORMS = ("batch", "spectral", "none")


class Discriminator(Configurable, nn.Module):
    """Base class of the discriminators: keyword options only, declared on the class.

    ``min_size``: the smallest patch side (pixels) the network accepts.
    """

    min_size: ClassVar[int] = 1

    def __init__(self, **options: Any):
        super().__init__()
        self._set_options(options)


def _conv(cin: int, cout: int, k: int, stride: int, norm: str) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=norm != "batch")
    if norm == "spectral":
        return [spectral_norm(conv), nn.LeakyReLU(0.2, inplace=True)]
    if norm == "batch":
        return [conv, nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
    return [conv, nn.LeakyReLU(0.2, inplace=True)]


@DISCRIMINATORS.register("vgg")
class VGGDiscriminator(Discriminator):
    """VGG-style discriminator for any patch size (global average pooling before the classifier).

    ``stages`` blocks of [3x3 conv stride 1, 3x3 conv stride 2]; block i has
    ``channels * 2**min(i, 3)`` channels (64, 128, 256, 512, 512 by default, as ESRGAN's).
    ``norm``: ``batch`` (SRGAN/ESRGAN), ``spectral`` or ``none`` (use ``none`` or ``spectral``
    with WGAN-GP: its penalty is per sample, which batch norm breaks; Gulrajani et al. 2017).
    """

    options = (
        Option("channels", 64, "channels of the first block", type=int, ge=1),
        Option("stages", 5, "number of stride-2 blocks", type=int, ge=1),
        Option("norm", "batch", "normalisation: batch, spectral or none", type=str, choices=NORMS),
    )

    def __init__(self, **options: Any):
        super().__init__(**options)
        channels, norm = self.channels, self.norm
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        cin = channels
        for i in range(self.stages):
            cout = channels * 2 ** min(i, 3)
            if i > 0:
                layers += _conv(cin, cout, 3, 1, norm)
            layers += _conv(cout, cout, 3, 2, norm)
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(cin, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(img).mean(dim=(-2, -1)))


@DISCRIMINATORS.register("unet")
class UNetDiscriminatorSN(Discriminator):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation: one logit per pixel."""

    min_size = 8
    options = (
        Option("channels", 64, "channels of the first layer", type=int, ge=1),
        Option("skip_connection", True, "add the encoder's features to the decoder's", type=bool),
    )

    def __init__(self, **options: Any):
        super().__init__(**options)
        sn, c = spectral_norm, self.channels
        self.conv0 = nn.Conv2d(3, c, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(c, c * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(c * 2, c * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(c * 4, c * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(c * 8, c * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(c * 4, c * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(c * 2, c, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(c, c, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(c, c, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(c, 1, 3, 1, 1)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if min(img.shape[-2:]) < self.min_size:
            raise ValueError(
                f"UNetDiscriminatorSN needs patches of at least {self.min_size} px, got {tuple(img.shape[-2:])}"
            )
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        x0 = act(self.conv0(img))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(self._up(x3, x2)))
        x4 = x4 + x2 if self.skip_connection else x4
        x5 = act(self.conv5(self._up(x4, x1)))
        x5 = x5 + x1 if self.skip_connection else x5
        x6 = act(self.conv6(self._up(x5, x0)))
        x6 = x6 + x0 if self.skip_connection else x6
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)


def build_discriminator(name: str, options: dict | None = None) -> Discriminator:
    """Instantiate discriminator ``name`` (a ``DISCRIMINATORS`` name) with ``options``."""
    return DISCRIMINATORS[name](**(options or {}))
