"""Texture (style) loss: distance between Gram matrices of deep features.

Gatys et al., "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016); used for
SR as the texture loss of EnhanceNet (Sajjadi et al., ICCV 2017). For features F of shape
C×(H·W) at a layer, G = F Fᵀ / (C·H·W): channel co-activations averaged over positions, so the
loss matches texture statistics and ignores where things are.
"""

from __future__ import annotations

from typing import Any

import torch

from srloss.losses import LOSS_TERMS
from srloss.losses.backbones import (
    BACKBONE_OPTIONS,
    CRITERIA,
    CRITERION_OPTION,
    VGG19_LAYERS,
    BackboneTerm,
    FrozenFeatures,
    layer_weights,
    vgg19_layers,
)
from srloss.options import Option

GATYS_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W features -> N×C×C Gram matrices, normalised by C·H·W."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


@LOSS_TERMS.register("gram")
class GramLoss(BackboneTerm):
    """sum_l w_l · criterion(G(phi_l(SR)), G(phi_l(HR))) on VGG19 layers.

    ``layers``: a name, a list, or {name: weight} (default Gatys et al.'s relu1_1 ... relu5_1);
    ``criterion``: ``mse`` (default) or ``l1``.
    """

    backbone = "vgg19"
    options = (
        Option(
            "layers",
            GATYS_LAYERS,
            "VGG19 layer(s): a name, a list, or {name: weight}",
            type=object,
            parse=lambda v: layer_weights(v, VGG19_LAYERS),
        ),
        CRITERION_OPTION,
        *BACKBONE_OPTIONS,
    )

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.extractor = FrozenFeatures(vgg19_layers(self.backbone_weights, self.backbone_seed), list(self.layers))

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        distance = CRITERIA[self.criterion]
        f_sr = self.extractor(sr)
        with torch.no_grad():
            f_hr = self.extractor(hr)
        return sum(w * distance(gram_matrix(f_sr[n]), gram_matrix(f_hr[n])) for n, w in self.layers.items())
