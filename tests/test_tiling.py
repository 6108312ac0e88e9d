"""Tiled inference equals whole-image inference for every registered model (srloss.ops.tiling)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srloss.models import MODELS
from srloss.models.base import build_model
from srloss.ops.tiling import receptive_radius, tiled_forward

# small variants keep the test fast; the radius formula follows the options
SMALL = {
    "srcnn": {"channels": 8, "hidden": 4},
    "espcn": {"channels": 8, "hidden": 4, "residual": True},
    "rrdbnet": {"nf": 8, "gc": 4, "blocks": 1},
    "srresnet": {"nf": 8, "blocks": 2},
    "unet_geu": {"nf": 8, "depth": 2, "frames": 3},
}


def _model(arch: str, scale: int) -> nn.Module:
    torch.manual_seed(0)
    model = build_model(arch, scale, SMALL.get(arch)).double().eval()
    if arch == "srresnet":  # non-trivial batch-norm statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def _input(model: nn.Module, h: int, w: int) -> torch.Tensor:
    frames = getattr(model, "frames", None)
    shape = (2, frames, 3, h, w) if frames else (2, 3, h, w)
    return torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("large_tile", [False, True])
def test_tiled_equals_whole_image(arch: str, large_tile: bool) -> None:
    scale = 2
    model = _model(arch, scale)
    r = receptive_radius(model)
    # odd sizes, 4x3 tiles of side r: a tile's context (r each side) is smaller than the image
    tile, h, w = r, 3 * r + 5, 2 * r + 3
    if large_tile:
        tile, h, w = 200, 23, 19  # tile larger than the image
    lr = _input(model, h, w)
    with torch.no_grad():
        whole = model(lr)
    tiled = tiled_forward(model, lr, scale, tile)
    assert tiled.shape == whole.shape
    assert torch.allclose(tiled, whole, atol=1e-5, rtol=0), (arch, float((tiled - whole).abs().max()))


def test_too_small_overlap_differs() -> None:
    """The check above can fail: with no context the seams differ from whole-image inference."""
    model = _model("espcn", 2)
    lr = _input(model, 33, 31)
    with torch.no_grad():
        whole = model(lr)
    assert not torch.allclose(tiled_forward(model, lr, 2, 8, overlap=0), whole, atol=1e-5)


def test_pointwise_model_needs_no_overlap() -> None:
    model = nn.Sequential(nn.Conv2d(3, 12, 1), nn.Tanh(), nn.PixelShuffle(2)).double().eval()
    lr = torch.rand(1, 3, 17, 13, dtype=torch.float64)
    with torch.no_grad():
        whole = model(lr)
    assert torch.allclose(tiled_forward(model, lr, 2, 5, overlap=0), whole, atol=1e-12)


def test_whole_image_when_tile_is_zero_or_none() -> None:
    model = _model("espcn", 2)
    lr = _input(model, 9, 11)
    with torch.no_grad():
        whole = model(lr)
    for tile in (0, None):
        assert torch.equal(tiled_forward(model, lr, 2, tile), whole)


@pytest.mark.parametrize(
    ("tile", "overlap", "match"),
    [(-4, 2, "tile must be a positive integer"), (8.5, 2, "tile must"), (8, -1, "overlap must"), (8, 1.5, "overlap")],
)
def test_bad_values_raise(tile: object, overlap: object, match: str) -> None:
    model = _model("espcn", 2)
    with pytest.raises(ValueError, match=match):
        tiled_forward(model, _input(model, 9, 9), 2, tile, overlap)


def test_unknown_model_needs_explicit_overlap() -> None:
    with pytest.raises(ValueError, match="give the overlap explicitly"):
        receptive_radius(nn.Conv2d(3, 3, 3))
