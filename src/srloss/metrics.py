"""Image quality metrics, following the conventions of the SR literature.

All functions take uint8-valued images (the SR output is rounded to uint8 first, as when it is
saved) as CHW RGB tensors, and compute in float64 on the 0-255 scale.

* Y channel: ITU-R BT.601 luma of [0, 1] RGB, Y = 16 + 65.481 R + 128.553 G + 24.966 B,
  as MATLAB's ``rgb2ycbcr`` (range 16-235).
* Border: ``scale`` pixels are cropped from each side before any metric, as in EDSR/BasicSR.
* PSNR = 10 log10(255^2 / MSE).
* SSIM: Wang et al., "Image Quality Assessment: From Error Visibility to Structural
  Similarity" (TIP 2004), with the authors' MATLAB settings: 11x11 Gaussian window,
  sigma = 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean over the valid region only.
* MSE on the 0-255 scale, over RGB.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """BT.601 luma (16-235) of an RGB image (..., 3, H, W) on the 0-255 scale; returns (..., H, W)."""
    if img.shape[-3] != 3:
        raise ValueError(f"rgb_to_y: expected 3 channels at axis -3, got shape {tuple(img.shape)}")
    w = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=img.device)
    return 16.0 + torch.einsum("...chw,c->...hw", img.double() / 255.0, w)


def crop_border(img: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from each side of the last two axes."""
    if border <= 0:
        return img
    if img.shape[-1] <= 2 * border or img.shape[-2] <= 2 * border:
        raise ValueError(f"crop_border: image {tuple(img.shape[-2:])} is too small to crop {border} px from each side")
    return img[..., border:-border, border:-border]


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error on the 0-255 scale."""
    _check_pair(a, b)
    return float(torch.mean((a.double() - b.double()) ** 2))


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    err = mse(a, b)
    return math.inf if err == 0 else 10.0 * math.log10(peak**2 / err)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 2-D Gaussian window, as MATLAB's ``fspecial('gaussian', size, sigma)``."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """SSIM of two single-channel images (H, W) on the 0-``peak`` scale (Wang et al. 2004)."""
    _check_pair(a, b)
    if a.ndim != 2:
        raise ValueError(f"ssim: expected single-channel (H, W) images, got shape {tuple(a.shape)}")
    if min(a.shape) < 11:
        raise ValueError(f"ssim: images must be at least 11x11 for the 11x11 window, got {tuple(a.shape)}")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    win = gaussian_window().to(a.device)[None, None]
    x, y = a.double()[None, None], b.double()[None, None]
    mu_x, mu_y = F.conv2d(x, win), F.conv2d(y, win)
    sxx = F.conv2d(x * x, win) - mu_x**2
    syy = F.conv2d(y * y, win) - mu_y**2
    sxy = F.conv2d(x * y, win) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float(torch.mean(num / den))


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """A [0, 1] float image rounded to uint8 values, as when it is saved to disk."""
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def image_metrics(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """The standard metric set for one SR/HR pair of uint8 CHW RGB images."""
    _check_pair(sr, hr)
    sr_c, hr_c = crop_border(sr, scale), crop_border(hr, scale)
    y_sr, y_hr = rgb_to_y(sr_c), rgb_to_y(hr_c)
    return {
        "psnr_rgb": psnr(sr_c, hr_c),
        "psnr_y": psnr(y_sr, y_hr),
        "ssim_y": ssim(y_sr, y_hr),
        "mse": mse(sr_c, hr_c),
    }


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
