"""Frozen ImageNet feature extractors for perceptual and texture losses (VGG19, ResNet18/50).

An extractor normalises its [0, 1] RGB input with the ImageNet mean and std (torchvision's
convention, which the pretrained weights expect), runs the backbone only up to the deepest
requested layer (later layers are never built into it), and returns the features at the
requested layers by name. Its weights never receive gradients and it stays in eval mode even
when the surrounding loss is put in training mode (ResNet's batch norms keep their statistics).

Weights: ``imagenet`` loads torchvision's checkpoint from the local cache (``srloss.weights``);
``random`` initialises the same architecture from ``seed`` without touching the global RNG —
for offline tests and demos only, never the published loss.

Backbones are built once per (architecture, weights file or random seed) in a process and
shared between terms (their layers are the same module objects), so a loss with a VGG content
term and a VGG texture term holds one VGG19.

``BackboneTerm`` is the base of every loss term built on such a network: it declares the
``backbone_weights`` and ``backbone_seed`` options and, from the class's ``backbone``, which
pretrained weight file the term needs (``srloss.weights.WEIGHT_FILES``, the one table of them).
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from srloss import weights as weight_cache
from srloss.losses.base import LossTerm
from srloss.options import Option

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's VGG19 "E" configuration: channels per conv, "M" = max pool.
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def _vgg19_layer_names() -> tuple[str, ...]:
    """conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ... pool5, in torchvision's order."""
    names, block, conv = [], 1, 1
    for v in _VGG19_CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return tuple(names)


VGG19_LAYERS = _vgg19_layer_names()  # index i is torchvision's vgg19().features[i]
RESNET_ARCHS = ("resnet18", "resnet50")
RESNET_STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")  # stem = conv1+bn1+relu; layer1 includes the max pool


class FrozenFeatures(nn.Module):
    """ImageNet-normalise, run ``layers`` in order, return {name: features} for ``taps``."""

    def __init__(self, layers: "OrderedDict[str, nn.Module]", taps: list[str]):
        super().__init__()
        names = list(layers)
        missing = [t for t in taps if t not in names]
        if missing:
            raise ValueError(f"unknown layer(s) {missing}; valid choices: {', '.join(names)}")
        last = max(names.index(t) for t in taps)
        self.body = nn.Sequential(OrderedDict(list(layers.items())[: last + 1]))  # truncated: later layers not computed
        self.taps = list(taps)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        for p in self.body.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenFeatures":
        return super().train(False)  # always eval: frozen statistics, no dropout

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        for name, layer in self.body.named_children():
            x = layer(x)
            if name in self.taps:
                out[name] = x
        return out


CRITERIA = {"mse": F.mse_loss, "l1": F.l1_loss}


def layer_weights(layers: str | list | tuple | dict, valid: tuple[str, ...]) -> dict[str, float]:
    """Normalise a ``layers`` option (a name, a list of names, or {name: weight}) to {name: weight}."""
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, (list, tuple)):
        layers = {name: 1.0 for name in layers}
    if not isinstance(layers, dict) or not layers:
        raise ValueError(f"expected a layer name, a list of names or a mapping name -> weight, got {layers!r}")
    for name, w in layers.items():
        if name not in valid:
            raise ValueError(f"unknown layer {name!r}; valid choices: {', '.join(valid)}")
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
    return {name: float(w) for name, w in layers.items()}


CRITERION_OPTION = Option("criterion", "mse", "distance between features: mse or l1", type=str, choices=tuple(CRITERIA))
BACKBONE_OPTIONS = (
    Option(
        "backbone_weights",
        "imagenet",
        "imagenet (the published loss) or random (seeded; offline tests only)",
        type=str,
        choices=weight_cache.BACKBONE_WEIGHTS,
    ),
    Option("backbone_seed", 0, "seed of a random backbone", type=int, ge=0),
)


class BackboneTerm(LossTerm):
    """A loss term on a frozen ImageNet network; ``backbone`` names its weight file's entry."""

    backbone: ClassVar[str] = ""  # a key of srloss.weights.WEIGHT_FILES
    precision: ClassVar[str] = "autocast"  # the frozen network runs in bf16 under autocast

    @classmethod
    def pretrained_backbone(cls, options: dict[str, Any]) -> str:
        """The weight-file entry for these options (override when an option picks the network)."""
        return cls.backbone

    @classmethod
    def backbones(cls, options: dict[str, Any]) -> list[str]:
        return [] if options["backbone_weights"] == "random" else [cls.pretrained_backbone(options)]


def _cache_key(weights: str, backbone: str) -> str:
    """Where the weights come from: the checkpoint's path (ImageNet) or nothing (random)."""
    BACKBONE_OPTIONS[0].check(weights)
    return str(weight_cache.weight_path(backbone).resolve()) if weights == "imagenet" else ""


def vgg19_layers(weights: str, seed: int = 0) -> "OrderedDict[str, nn.Module]":
    """VGG19's feature layers by name (conv1_1 ... pool5), ImageNet or seeded-random weights, frozen."""
    return _vgg19_layers(weights, seed, _cache_key(weights, "vgg19"))


def resnet_layers(arch: str, weights: str, seed: int = 0) -> "OrderedDict[str, nn.Module]":
    """ResNet18/50 stages by name (stem, layer1 ... layer4), ImageNet or seeded-random weights, frozen."""
    if arch not in RESNET_ARCHS:
        raise ValueError(f"option arch: unknown ResNet {arch!r}; valid choices: {', '.join(RESNET_ARCHS)}")
    return _resnet_layers(arch, weights, seed, _cache_key(weights, arch))


@functools.lru_cache(maxsize=8)
def _vgg19_layers(weights: str, seed: int, source: str) -> "OrderedDict[str, nn.Module]":
    state = weight_cache.load_state_dict("vgg19") if weights == "imagenet" else None  # a missing file fails first
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        in_ch, names = 3, iter(VGG19_LAYERS)
        for v in _VGG19_CFG:
            if v == "M":
                layers[next(names)] = nn.MaxPool2d(2, 2)
            else:
                conv = nn.Conv2d(in_ch, v, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")  # torchvision's init
                nn.init.zeros_(conv.bias)
                layers[next(names)] = conv
                layers[next(names)] = nn.ReLU(inplace=False)
                in_ch = v
    if state is not None:
        with torch.no_grad():
            for i, layer in enumerate(layers.values()):
                if isinstance(layer, nn.Conv2d):
                    layer.weight.copy_(state[f"features.{i}.weight"])
                    layer.bias.copy_(state[f"features.{i}.bias"])
    for layer in layers.values():
        layer.requires_grad_(False)
    return layers


@functools.lru_cache(maxsize=8)
def _resnet_layers(arch: str, weights: str, seed: int, source: str) -> "OrderedDict[str, nn.Module]":
    import torchvision

    state = weight_cache.load_state_dict(arch) if weights == "imagenet" else None  # a missing file fails first
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = getattr(torchvision.models, arch)(weights=None)
    if state is not None:
        net.load_state_dict(state)
    net.requires_grad_(False)
    return OrderedDict(
        [
            ("stem", nn.Sequential(net.conv1, net.bn1, net.relu)),
            ("layer1", nn.Sequential(net.maxpool, net.layer1)),
            ("layer2", net.layer2),
            ("layer3", net.layer3),
            ("layer4", net.layer4),
        ]
    )
