"""Degradations: how LR images are made from HR images (configured per dataset under ``degradation``).

The base degradation is MATLAB-compatible bicubic downscaling (``srloss.ops.resize.imresize``,
the SR literature's benchmark degradation). Beyond it: optional isotropic Gaussian blur before
downscaling, Gaussian noise and JPEG compression after it, and multi-frame bursts (T frames,
each a randomly shifted and rotated copy of the HR image, the reference frame T//2 unshifted),
all deterministic given the seed and the image name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from srloss.data.settings import DegradationSettings
from srloss.ops.kernels import gaussian_kernel1d
from srloss.ops.resize import cubic, imresize, mirror_indices, one_cpu_thread, resize_matrix

__all__ = [
    "DegradationSettings",
    "add_noise",
    "bicubic_downscale",
    "cubic",
    "degradation_options",
    "degrade",
    "gaussian_blur",
    "gaussian_kernel1d",
    "image_seed",
    "imresize",
    "jpeg_compress",
    "modcrop",
    "resize_matrix",
    "warp",
]


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an HWC image so that height and width are multiples of ``scale`` (top-left anchored)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """HR uint8 HWC image -> LR uint8 HWC image, MATLAB bicubic with antialiasing."""
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(
            f"bicubic_downscale: image size {hr.shape[:2]} is not a multiple of scale {scale}; modcrop it first"
        )
    chw = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))
    return imresize(chw, 1.0 / scale).numpy().transpose(1, 2, 0).copy()


# ----- further degradations ------------------------------------------------------------------


def degradation_options(opts: dict | None) -> dict[str, Any]:
    """``opts`` checked, with every missing option at its default (what shards record); ``frames``
    unset means single images here (a source with another default sets it, ``dataset_frames``)."""
    values = DegradationSettings.from_dict(opts).as_dict()
    values["frames"] = values["frames"] or 1
    return values


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable isotropic Gaussian blur of (..., H, W) float images, symmetric border padding.

    Each axis is a weighted sum of shifted slices of the padded image (a handful of fused
    multiply-adds per pixel; a single-channel ``conv2d`` took seconds on a DIV2K image).
    Differentiable.
    """
    if sigma <= 0:
        return img
    weights = gaussian_kernel1d(sigma).tolist()
    r = len(weights) // 2
    h, w = img.shape[-2:]
    rows = torch.as_tensor(mirror_indices(np.arange(-r, h + r), h), device=img.device)
    cols = torch.as_tensor(mirror_indices(np.arange(-r, w + r), w), device=img.device)
    with one_cpu_thread() if img.device.type == "cpu" else contextlib.nullcontext():
        x = _weighted_slices(img.index_select(-2, rows), weights, -2, h)
        return _weighted_slices(x.index_select(-1, cols), weights, -1, w)


def _weighted_slices(x: torch.Tensor, weights: list[float], axis: int, n: int) -> torch.Tensor:
    """sum_k weights[k] * x.narrow(axis, k, n), in place when no gradient is needed."""
    if x.requires_grad:
        return sum(x.narrow(axis, k, n) * wk for k, wk in enumerate(weights))
    out = x.narrow(axis, 0, n) * weights[0]
    for k, wk in enumerate(weights[1:], start=1):
        out.add_(x.narrow(axis, k, n), alpha=wk)
    return out


def add_noise(img: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise with standard deviation ``sigma`` grey levels (of 255) to [0, 1] images."""
    if sigma <= 0:
        return img
    noise = torch.randn(img.shape, generator=generator, dtype=img.dtype)
    return img + noise.to(img.device) * (sigma / 255.0)


def jpeg_compress(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode an HxWx3 uint8 image as JPEG at ``quality`` (PIL, 4:2:0) and decode it again."""
    if not quality:
        return img
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()


def warp(img: torch.Tensor, dx: float, dy: float, angle_deg: float) -> torch.Tensor:
    """Rotate (C, H, W) by ``angle_deg`` about the centre, then shift by (dx, dy) pixels; bicubic.

    Sub-pixel shifts make the burst's frames sample the scene at different phases, which is
    what multi-frame SR exploits. Borders are reflected.
    """
    _, h, w = img.shape
    a = math.radians(angle_deg)
    # grid_sample works in normalised coordinates [-1, 1] (align_corners=False): 1 px = 2/size.
    theta = torch.tensor(
        [[math.cos(a), -math.sin(a) * h / w, -2 * dx / w], [math.sin(a) * w / h, math.cos(a), -2 * dy / h]],
        dtype=img.dtype,
        device=img.device,
    )
    grid = F.affine_grid(theta[None], [1, *img.shape], align_corners=False)
    return F.grid_sample(img[None], grid, mode="bicubic", padding_mode="reflection", align_corners=False)[0]


def image_seed(seed: int, name: str) -> int:
    """A 63-bit seed from the dataset's seed and an image name (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little") >> 1


def degrade(hr: np.ndarray, scale: int, opts: dict | None = None, name: str = "") -> np.ndarray:
    """HR HxWx3 uint8 (mod-cropped) -> LR uint8: (h, w, 3), or (T, h, w, 3) when ``frames`` > 1.

    Per frame: warp (bursts only; frame T//2 is not warped) -> Gaussian blur -> MATLAB bicubic
    downscale -> Gaussian noise -> round to uint8 -> JPEG. Random draws come from a generator
    seeded with ``image_seed(opts.seed, name)``, so the result is deterministic.
    """
    o = degradation_options(opts)
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(f"degrade: image size {hr.shape[:2]} is not a multiple of scale {scale}; modcrop it first")
    plain = o["blur_sigma"] <= 0 and o["noise_sigma"] <= 0 and not o["jpeg_quality"] and o["frames"] == 1
    if plain:
        return bicubic_downscale(hr, scale)
    gen = torch.Generator().manual_seed(image_seed(o["seed"], name))
    x = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1))).float().div_(255)
    t = o["frames"]
    frames = []
    for i in range(t):
        f = x
        if i != t // 2:
            u = torch.rand(3, generator=gen, dtype=torch.float64) * 2 - 1
            f = warp(x, float(u[0]) * o["max_shift"], float(u[1]) * o["max_shift"], float(u[2]) * o["max_rotation"])
        f = gaussian_blur(f, o["blur_sigma"])
        f = imresize(f, 1.0 / scale)
        f = add_noise(f, o["noise_sigma"], gen)
        lr = f.mul(255).round_().clamp_(0, 255).to(torch.uint8).numpy().transpose(1, 2, 0)
        frames.append(jpeg_compress(np.ascontiguousarray(lr), o["jpeg_quality"]))
    return np.stack(frames) if t > 1 else frames[0]
