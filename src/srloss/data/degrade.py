"""Degradations: MATLAB-compatible bicubic resizing (the SR literature's benchmark degradation).

``imresize`` reproduces MATLAB's ``imresize(img, scale, 'bicubic')``:

* Keys' cubic convolution kernel with a = -0.5 (Keys 1981, "Cubic convolution interpolation
  for digital image processing");
* when downscaling, the kernel is stretched by 1/scale (antialiasing), so x4 downscaling
  averages over 16 input pixels per axis instead of 4;
* borders are padded symmetrically (the edge pixel is repeated: ``... b a | a b ...``);
* output size is ``ceil(in * scale)``.

torch's ``interpolate(mode="bicubic")`` uses a = -0.75 and (by default) no antialiasing, and
PIL uses a = -0.5 with antialiasing but different border handling and rounding, so their
LR images differ from the benchmarks' by up to a few grey levels.

Each axis is resized by one matrix product with a precomputed (out, in) weight matrix, so the
operation is vectorised, runs on any device and is differentiable (the downsampled-space loss
back-propagates through it). Computation is in float; uint8 input is rounded back to uint8.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


def cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (a + 2) * ax3 - (a + 3) * ax2 + 1
    far = a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    return np.where(ax <= 1, near, np.where(ax <= 2, far, 0.0))


@functools.lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """Float64 (out_len, in_len) matrix M such that ``M @ signal`` is MATLAB's bicubic resize."""
    shrink = scale < 1 and antialias
    width = 4.0 / scale if shrink else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)  # 1-based output coordinates, as in MATLAB
    u = x / scale + 0.5 * (1 - 1 / scale)  # their positions in input coordinates
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # (out_len, taps), 1-based
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink else cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    # Symmetric padding: index sequence 1..n, n..1, repeating.
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    cols = mirror[((idx - 1) % (2 * in_len)).astype(np.int64)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), taps), cols.ravel()), weights.ravel())
    return matrix


def imresize(img: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """Resize the last two axes of ``img`` (..., H, W) by ``scale`` like MATLAB's bicubic imresize.

    Float input stays float (values may overshoot [0, 1] as in MATLAB); uint8 input is computed
    in float32 and rounded and clipped back to uint8.
    """
    if scale <= 0:
        raise ValueError(f"imresize: scale must be positive, got {scale}")
    if img.ndim < 2:
        raise ValueError(f"imresize: expected an image with at least 2 axes (..., H, W), got shape {tuple(img.shape)}")
    is_uint8 = img.dtype == torch.uint8
    x = img.float() if is_uint8 or not img.is_floating_point() else img
    h, w = x.shape[-2:]
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    mh = torch.from_numpy(resize_matrix(h, out_h, float(scale), antialias)).to(x.device, x.dtype)
    mw = torch.from_numpy(resize_matrix(w, out_w, float(scale), antialias)).to(x.device, x.dtype)
    out = mh @ x @ mw.T
    if is_uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    return out


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an HWC image so that height and width are multiples of ``scale`` (top-left anchored)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """HR uint8 HWC image -> LR uint8 HWC image, MATLAB bicubic with antialiasing."""
    if hr.shape[0] % scale or hr.shape[1] % scale:
        raise ValueError(f"bicubic_downscale: image size {hr.shape[:2]} is not a multiple of scale {scale}; modcrop it first")
    chw = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1)))
    return imresize(chw, 1.0 / scale).numpy().transpose(1, 2, 0).copy()
