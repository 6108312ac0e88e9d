"""Small image operations shared by models, losses and metrics (no dependency on the data layer).

* ``rgb_to_y``: ITU-R BT.601 luma of 0-255 RGB, as MATLAB's ``rgb2ycbcr`` (range 16-235), the
  SR literature's Y channel;
* ``crop_border``: remove ``border`` pixels from each side (the ``scale`` pixels every SR
  benchmark ignores, as in EDSR/BasicSR);
* ``reference_frame``: the frame a single-image model super-resolves in a multi-frame batch;
* ``to_uint8``: a [0, 1] float image rounded to uint8, as when it is saved.
"""

from __future__ import annotations

import torch

Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 for RGB in [0, 1], Y in 16..235


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """BT.601 luma (16-235) of an RGB image (..., 3, H, W) on the 0-255 scale; returns float64 (..., H, W)."""
    if img.shape[-3] != 3:
        raise ValueError(f"rgb_to_y: expected 3 channels at axis -3, got shape {tuple(img.shape)}")
    w = torch.tensor(Y_WEIGHTS, dtype=torch.float64, device=img.device)
    return 16.0 + torch.einsum("...chw,c->...hw", img.double() / 255.0, w)


def crop_border(img: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from each side of the last two axes."""
    if border <= 0:
        return img
    if img.shape[-1] <= 2 * border or img.shape[-2] <= 2 * border:
        raise ValueError(f"crop_border: image {tuple(img.shape[-2:])} is too small to crop {border} px from each side")
    return img[..., border:-border, border:-border]


def reference_frame(x: torch.Tensor) -> torch.Tensor:
    """The reference frame (index T//2) of a multi-frame batch N×T×C×h×w; N×C×h×w passes through."""
    if x.ndim == 5:
        return x[:, x.shape[1] // 2]
    if x.ndim != 4:
        raise ValueError(f"expected an image batch N×C×H×W or a frame batch N×T×C×H×W, got shape {tuple(x.shape)}")
    return x


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """A [0, 1] float image rounded to uint8 values, as when it is saved to disk."""
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)
