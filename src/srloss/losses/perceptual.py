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

import torch
from torch import nn
from torch.nn import functional as F

from srloss import weights as weight_cache
from srloss.losses.backbones import (
    RESNET_ARCHS,
    RESNET_STAGES,
    VGG19_LAYERS,
    FrozenFeatures,
    check_backbone_weights,
    resnet_layers,
    vgg19_layers,
)

CRITERIA = {"mse": F.mse_loss, "l1": F.l1_loss}
LPIPS_NETS = {"alex": "alexnet", "vgg": "vgg16"}  # lpips net name -> torchvision trunk


def layer_weights(option: str, layers: str | list | dict, valid: tuple[str, ...]) -> dict[str, float]:
    """Normalise a ``layers`` option (a name, a list of names, or {name: weight}) to {name: weight}."""
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, (list, tuple)):
        layers = {name: 1.0 for name in layers}
    if not isinstance(layers, dict) or not layers:
        raise ValueError(f"option {option}: expected a layer name, a list of names or a mapping name -> weight, got {layers!r}")
    for name, w in layers.items():
        if name not in valid:
            raise ValueError(f"option {option}: unknown layer {name!r}; valid choices: {', '.join(valid)}")
        if not isinstance(w, (int, float)) or isinstance(w, bool):
            raise ValueError(f"option {option}: weight of {name!r} must be a number, got {w!r}")
    return {name: float(w) for name, w in layers.items()}


def check_criterion(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(f"option criterion: {criterion!r} is not a choice; valid choices: {', '.join(CRITERIA)}")


class _FeatureLoss(nn.Module):
    """sum_l w_l · criterion(phi_l(SR), phi_l(HR)) for a frozen extractor phi."""

    def __init__(self, extractor: FrozenFeatures, weights: dict[str, float], criterion: str):
        super().__init__()
        self.extractor, self.weights, self.criterion = extractor, weights, CRITERIA[criterion]

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        f_sr = self.extractor(sr)
        with torch.no_grad():
            f_hr = self.extractor(hr)
        return sum(w * self.criterion(f_sr[name], f_hr[name]) for name, w in self.weights.items())


class VGGFeatureLoss(_FeatureLoss):
    """VGG19 feature reconstruction at named layers (``conv*_*`` = before ReLU, ``relu*_*`` = after).

    ``layers``: a name, a list, or {name: weight} (default relu2_2, Johnson et al.'s layer;
    ESRGAN uses conv5_4 with ``criterion: l1``). ``criterion``: ``mse`` (default) or ``l1``.
    """

    def __init__(self, layers: str | list | dict = "relu2_2", criterion: str = "mse",
                 backbone_weights: str = "imagenet", backbone_seed: int = 0):
        self.check_options(layers=layers, criterion=criterion, backbone_weights=backbone_weights)
        weights = layer_weights("layers", layers, VGG19_LAYERS)
        super().__init__(FrozenFeatures(vgg19_layers(backbone_weights, backbone_seed), list(weights)), weights, criterion)

    @classmethod
    def check_options(cls, layers="relu2_2", criterion="mse", backbone_weights="imagenet", **_) -> None:
        layer_weights("layers", layers, VGG19_LAYERS)
        check_criterion(criterion)
        check_backbone_weights(backbone_weights)

    @classmethod
    def backbones(cls, backbone_weights: str = "imagenet", **_) -> list[str]:
        return ["vgg19"] if backbone_weights == "imagenet" else []


class ResNetFeatureLoss(_FeatureLoss):
    """ResNet feature reconstruction at named stages (``stem``, ``layer1`` ... ``layer4``).

    ``arch``: resnet18 (default) or resnet50 (torchvision V1 weights). ``stages``: a name, a list,
    or {name: weight} (default layer4, the deepest, as VGG54 is for VGG).
    """

    def __init__(self, arch: str = "resnet18", stages: str | list | dict = "layer4", criterion: str = "mse",
                 backbone_weights: str = "imagenet", backbone_seed: int = 0):
        self.check_options(arch=arch, stages=stages, criterion=criterion, backbone_weights=backbone_weights)
        weights = layer_weights("stages", stages, RESNET_STAGES)
        super().__init__(FrozenFeatures(resnet_layers(arch, backbone_weights, backbone_seed), list(weights)), weights, criterion)

    @classmethod
    def check_options(cls, arch="resnet18", stages="layer4", criterion="mse", backbone_weights="imagenet", **_) -> None:
        if arch not in RESNET_ARCHS:
            raise ValueError(f"option arch: unknown ResNet {arch!r}; valid choices: {', '.join(RESNET_ARCHS)}")
        layer_weights("stages", stages, RESNET_STAGES)
        check_criterion(criterion)
        check_backbone_weights(backbone_weights)

    @classmethod
    def backbones(cls, arch: str = "resnet18", backbone_weights: str = "imagenet", **_) -> list[str]:
        return [arch] if backbone_weights == "imagenet" else []


class LPIPSLoss(nn.Module):
    """Mean LPIPS distance between SR and HR ([0, 1] inputs, rescaled to [-1, 1] by lpips).

    ``net``: ``alex`` (default) or ``vgg``. The linear calibration layers are LPIPS v0.1's, which
    ship inside the lpips package; the trunk comes from the weight cache (or is random).
    """

    def __init__(self, net: str = "alex", backbone_weights: str = "imagenet", backbone_seed: int = 0):
        super().__init__()
        self.check_options(net=net, backbone_weights=backbone_weights)
        import lpips

        state = weight_cache.load_state_dict(LPIPS_NETS[net]) if backbone_weights == "imagenet" else None  # fail first
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")  # lpips's `pretrained=` call
            torch.manual_seed(backbone_seed)
            # pnet_rand: build the trunk without torchvision's implicit download; filled below.
            model = lpips.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False)
        lin_path = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
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

    @classmethod
    def check_options(cls, net="alex", backbone_weights="imagenet", **_) -> None:
        if net not in LPIPS_NETS:
            raise ValueError(f"option net: {net!r} is not a choice; valid choices: {', '.join(LPIPS_NETS)}")
        check_backbone_weights(backbone_weights)

    @classmethod
    def backbones(cls, net: str = "alex", backbone_weights: str = "imagenet", **_) -> list[str]:
        return [LPIPS_NETS[net]] if backbone_weights == "imagenet" else []

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return self.model(sr, hr, normalize=True).mean()
