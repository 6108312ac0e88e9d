"""Content (perceptual) losses: distances between deep features of SR and HR images.

* ``vgg``: VGG19 feature reconstruction loss (Johnson et al., "Perceptual Losses for Real-Time
  Style Transfer and Super-Resolution", ECCV 2016; SRGAN's VGG54; ESRGAN's conv5_4 before
  activation): sum_l w_l · criterion(phi_l(SR), phi_l(HR)) at named layers.
* ``resnet``: the same against ResNet18/50 stage outputs.
* ``lpips``: LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a
  Perceptual Metric", CVPR 2018) as a training loss, AlexNet or VGG16 trunk, via ``lpips``.

Features of HR are computed without gradient (they are the target); gradients reach SR
through the frozen extractor, never its weights. Every term takes ``backbone_weights``
(``imagenet``: torchvision's pretrained weights from the local cache; ``random``: a seeded
random network for offline tests — not the published loss) and ``backbone_seed``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from srloss import weights as weight_cache
from srloss.losses import LOSS_TERMS
from srloss.losses.backbones import (
    BACKBONE_OPTIONS,
    CRITERIA,
    CRITERION_OPTION,
    RESNET_ARCHS,
    RESNET_STAGES,
    VGG19_LAYERS,
    BackboneTerm,
    FrozenFeatures,
    layer_weights,
    resnet_layers,
    vgg19_layers,
)
from srloss.options import Option


class _FeatureLoss(BackboneTerm):
    """sum_l w_l · criterion(phi_l(SR), phi_l(HR)) for the frozen extractor phi = ``self.extractor``."""

    extractor: FrozenFeatures
    taps: dict[str, float]

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        distance = CRITERIA[self.criterion]
        f_sr = self.extractor(sr)
        with torch.no_grad():
            f_hr = self.extractor(hr)
        return sum(w * distance(f_sr[name], f_hr[name]) for name, w in self.taps.items())


@LOSS_TERMS.register("vgg")
class VGGFeatureLoss(_FeatureLoss):
    """VGG19 feature reconstruction at named layers (``conv*_*`` = before ReLU, ``relu*_*`` = after).

    ``layers``: a name, a list, or {name: weight} (default relu2_2, Johnson et al.'s layer;
    ESRGAN uses conv5_4 with ``criterion: l1``). ``criterion``: ``mse`` (default) or ``l1``.
    """

    backbone = "vgg19"
    options = (
        Option(
            "layers",
            "relu2_2",
            "VGG19 layer(s): a name, a list, or {name: weight}",
            type=object,
            parse=lambda v: layer_weights(v, VGG19_LAYERS),
        ),
        CRITERION_OPTION,
        *BACKBONE_OPTIONS,
    )

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.taps = self.layers
        self.extractor = FrozenFeatures(vgg19_layers(self.backbone_weights, self.backbone_seed), list(self.taps))


@LOSS_TERMS.register("resnet")
class ResNetFeatureLoss(_FeatureLoss):
    """ResNet feature reconstruction at named stages (``stem``, ``layer1`` ... ``layer4``).

    ``arch``: resnet18 (default) or resnet50 (torchvision V1 weights). ``stages``: a name, a list,
    or {name: weight} (default layer4, the deepest, as VGG54 is for VGG).
    """

    options = (
        Option("arch", "resnet18", "resnet18 or resnet50", type=str, choices=RESNET_ARCHS, what="ResNet"),
        Option(
            "stages",
            "layer4",
            "ResNet stage(s): a name, a list, or {name: weight}",
            type=object,
            parse=lambda v: layer_weights(v, RESNET_STAGES),
        ),
        CRITERION_OPTION,
        *BACKBONE_OPTIONS,
    )

    @classmethod
    def pretrained_backbone(cls, options: dict[str, Any]) -> str:
        return options["arch"]

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.taps = self.stages
        layers = resnet_layers(self.arch, self.backbone_weights, self.backbone_seed)
        self.extractor = FrozenFeatures(layers, list(self.taps))


@LOSS_TERMS.register("lpips")
class LPIPSLoss(BackboneTerm):
    """Mean LPIPS distance between SR and HR ([0, 1] inputs, rescaled to [-1, 1] by lpips).

    ``net``: ``alex`` (default) or ``vgg``. The linear calibration layers are LPIPS v0.1's, which
    ship inside the lpips package; the trunk comes from the weight cache (or is random).
    """

    options = (
        Option("net", "alex", "LPIPS trunk: alex or vgg", type=str, choices=tuple(weight_cache.LPIPS_TRUNKS)),
        *BACKBONE_OPTIONS,
    )

    @classmethod
    def pretrained_backbone(cls, options: dict[str, Any]) -> str:
        return weight_cache.LPIPS_TRUNKS[options["net"]]

    def __init__(self, **options: Any):
        super().__init__(**options)
        import lpips

        trunk = weight_cache.LPIPS_TRUNKS[self.net]
        state = weight_cache.load_state_dict(trunk) if self.backbone_weights == "imagenet" else None  # fail first
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")  # lpips's `pretrained=` call
            torch.manual_seed(self.backbone_seed)
            # pnet_rand: build the trunk without torchvision's implicit download; filled below.
            model = lpips.LPIPS(pretrained=False, net=self.net, pnet_rand=True, verbose=False)
        lin_path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{self.net}.pth"
        model.load_state_dict(torch.load(lin_path, map_location="cpu", weights_only=True), strict=False)
        if state is not None:
            with torch.no_grad():
                for name, param in model.net.named_parameters():  # slice{k}.{i}.weight <- features.{i}.weight
                    _, index, kind = name.split(".")
                    param.copy_(state[f"features.{index}.{kind}"])
        model.requires_grad_(False)
        self.model = model.eval()

    def train(self, mode: bool = True) -> "LPIPSLoss":
        return super().train(False)  # always eval: LPIPS's dropout off

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return self.model(sr, hr, normalize=True).mean()
