"""Perceptual metric: LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018), AlexNet or VGG trunk, RGB mapped to [-1, 1], ``scale`` pixels
cropped from each border; one column per trunk (``evaluation.lpips.nets``)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srloss import weights
from srloss.metrics.base import METRICS, Column, Metric, MetricUnavailable, check_pair
from srloss.options import Option

if TYPE_CHECKING:  # imported where it computes: the report reads the declarations without torch
    import torch

NET_NAMES = {"alex": "AlexNet", "vgg": "VGG"}  # LPIPS ``net`` -> its name in headers
RANDOM_SUFFIX = "_random_backbone"  # column name ending of the test-only random trunk


def lpips_backbone_path(net: str) -> Path:
    """Where torch.hub looks for the ImageNet trunk of LPIPS ``net`` (honours $TORCH_HOME)."""
    if net not in weights.LPIPS_TRUNKS:
        raise ValueError(f"lpips: unknown net {net!r}; valid choices: {', '.join(weights.LPIPS_TRUNKS)}")
    return weights.weight_path(weights.LPIPS_TRUNKS[net])


class LPIPS:
    """LPIPS distance with the ``lpips`` package's v0.1 linear layers.

    Images are RGB, uint8-valued CHW, mapped to [-1, 1] as the package expects; lower = closer.
    The ImageNet backbone must be cached (see ``lpips_backbone_path``): if it is not,
    construction raises ``MetricUnavailable`` naming the missing file; it never downloads and
    never falls back to a random backbone.

    ``random_backbone=True`` is for tests only (offline checks of the plumbing): the trunk is
    randomly initialised, and the result is labelled by ``name`` ending in ``_random_backbone``
    so it can never pass for real LPIPS.
    """

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu", random_backbone: bool = False):
        path = lpips_backbone_path(net)
        if not random_backbone and not path.is_file():
            hint = weights.FETCH_HINT.format(backbone=weights.LPIPS_TRUNKS[net], home=path.parents[2])
            raise MetricUnavailable(
                f"LPIPS-{net}: ImageNet backbone weights not cached at {path} (no download is "
                f"attempted; fetch it with {hint}, or set TORCH_HOME)"
            )
        import lpips  # imported here: it pulls in torchvision
        import torch

        self.net = net
        self.random_backbone = random_backbone
        self.name = column_name(net, random_backbone)
        with warnings.catch_warnings():  # lpips uses torchvision's deprecated `pretrained=` argument
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net=net, pnet_rand=random_backbone, verbose=False).to(device).eval()
        self.device = torch.device(device)

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """LPIPS per image for uint8-valued (N, 3, H, W) or (3, H, W) tensors; returns (N,)."""
        import torch

        check_pair(sr, hr)
        if sr.ndim == 3:
            sr, hr = sr[None], hr[None]
        to_pm1 = lambda t: t.to(self.device, torch.float32) / 127.5 - 1.0  # noqa: E731  [0,255] -> [-1,1]
        with torch.no_grad():
            return self.model(to_pm1(sr), to_pm1(hr)).flatten().double().cpu()


def column_name(net: str, random_backbone: bool) -> str:
    """``lpips_<net>``, ending in ``_random_backbone`` for the test-only random trunk."""
    return f"lpips_{net}" + (RANDOM_SUFFIX if random_backbone else "")


def _column(net: str, random_backbone: bool) -> Column:
    short = f"LPIPS {NET_NAMES[net]}" + (" [RANDOM BACKBONE, test only]" if random_backbone else "")
    header = f"LPIPS {NET_NAMES[net]} (RGB in [-1,1], border=scale)"
    return Column(
        column_name(net, random_backbone),
        header + (" [RANDOM BACKBONE, test only]" if random_backbone else ""),
        short,
        "min",
        bounds=(0.0, math.inf),
        role="perception",
    )


@METRICS.register("lpips")
class LPIPSMetric(Metric):
    """One column per trunk of ``nets``; a trunk whose weights are not cached is missing, the others are measured."""

    summary = "LPIPS distance (Zhang et al. 2018) with an AlexNet or VGG trunk; lower is closer"
    title = "LPIPS"
    order = 80
    options = (
        Option(
            "nets",
            ("alex", "vgg"),
            "ImageNet trunks, one column each",
            type=list,
            item=Option("net", "alex", "a trunk", type=str, choices=tuple(weights.LPIPS_TRUNKS), what="LPIPS net"),
            min_items=1,
            unique=True,
        ),
        Option(
            "random_backbone",
            False,
            "TEST ONLY. Random LPIPS trunk (works offline); its columns are named *_random_backbone.",
            type=bool,
        ),
    )

    def __init__(self, device: torch.device | str = "cpu", **options: Any):
        super().__init__(device, **options)
        self.models: dict[str, LPIPS] = {}
        for net in self.nets:
            try:
                self.models[column_name(net, self.random_backbone)] = LPIPS(net, device, self.random_backbone)
            except MetricUnavailable as e:
                self.missing[column_name(net, self.random_backbone)] = str(e)

    @classmethod
    def columns(cls, **options: Any) -> tuple[Column, ...]:
        return tuple(_column(net, options["random_backbone"]) for net in options["nets"])

    @classmethod
    def known_columns(cls) -> tuple[Column, ...]:
        return tuple(_column(net, random) for net in weights.LPIPS_TRUNKS for random in (False, True))

    @classmethod
    def backbones(cls, **options: Any) -> tuple[str, ...]:
        return () if options["random_backbone"] else tuple(weights.LPIPS_TRUNKS[net] for net in options["nets"])

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        """All images of the batch through each trunk at once."""
        from srloss.ops import crop_border

        sr_c, hr_c = crop_border(sr, scale), crop_border(hr, scale)
        return {name: model(sr_c, hr_c).tolist() for name, model in self.models.items()}
