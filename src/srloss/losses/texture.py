"""Texture (style) loss: distance between Gram matrices of deep features.

Gatys et al., "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016); used for
SR as the texture loss of EnhanceNet (Sajjadi et al., ICCV 2017). For features F of shape
C×(H·W) at a layer, G = F Fᵀ / (C·H·W): channel co-activations averaged over positions, so the
loss matches texture statistics and ignores where things are.
"""

from __future__ import annotations

import torch

from srloss.losses.backbones import VGG19_LAYERS, FrozenFeatures, check_backbone_weights, vgg19_layers
from srloss.losses.perceptual import CRITERIA, check_criterion, layer_weights

GATYS_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """N×C×H×W features -> N×C×C Gram matrices, normalised by C·H·W."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class GramLoss(torch.nn.Module):
    """sum_l w_l · criterion(G(phi_l(SR)), G(phi_l(HR))) on VGG19 layers.

    ``layers``: a name, a list, or {name: weight} (default Gatys et al.'s relu1_1 ... relu5_1);
    ``criterion``: ``mse`` (default) or ``l1``.
    """

    def __init__(self, layers: str | list | dict = tuple(GATYS_LAYERS), criterion: str = "mse",
                 backbone_weights: str = "imagenet", backbone_seed: int = 0):
        super().__init__()
        self.check_options(layers=layers, criterion=criterion, backbone_weights=backbone_weights)
        self.weights = layer_weights("layers", list(layers) if isinstance(layers, tuple) else layers, VGG19_LAYERS)
        self.extractor = FrozenFeatures(vgg19_layers(backbone_weights, backbone_seed), list(self.weights))
        self.criterion = CRITERIA[criterion]

    @classmethod
    def check_options(cls, layers=tuple(GATYS_LAYERS), criterion="mse", backbone_weights="imagenet", **_) -> None:
        layer_weights("layers", list(layers) if isinstance(layers, tuple) else layers, VGG19_LAYERS)
        check_criterion(criterion)
        check_backbone_weights(backbone_weights)

    @classmethod
    def backbones(cls, backbone_weights: str = "imagenet", **_) -> list[str]:
        return ["vgg19"] if backbone_weights == "imagenet" else []

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        f_sr = self.extractor(sr)
        with torch.no_grad():
            f_hr = self.extractor(hr)
        return sum(w * self.criterion(gram_matrix(f_sr[n]), gram_matrix(f_hr[n])) for n, w in self.weights.items())
