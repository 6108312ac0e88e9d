"""Perceptual metric: LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a
Perceptual Metric", CVPR 2018), AlexNet or VGG trunk, RGB mapped to [-1, 1]."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from srloss import weights
from srloss.metrics.catalog import MetricUnavailable
from srloss.metrics.pixel import check_pair


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

        self.net = net
        self.random_backbone = random_backbone
        self.name = f"lpips_{net}" + ("_random_backbone" if random_backbone else "")
        with warnings.catch_warnings():  # lpips uses torchvision's deprecated `pretrained=` argument
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net=net, pnet_rand=random_backbone, verbose=False).to(device).eval()
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """LPIPS per image for uint8-valued (N, 3, H, W) or (3, H, W) tensors; returns (N,)."""
        check_pair(sr, hr)
        if sr.ndim == 3:
            sr, hr = sr[None], hr[None]
        to_pm1 = lambda t: t.to(self.device, torch.float32) / 127.5 - 1.0  # noqa: E731  [0,255] -> [-1,1]
        return self.model(to_pm1(sr), to_pm1(hr)).flatten().double().cpu()
