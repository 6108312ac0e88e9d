"""Filter kernels: Gaussian windows (SSIM, blur) and Sobel derivatives (sharpness, detail crops)."""

from __future__ import annotations

import math

import torch

SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))  # d/dx; its transpose is d/dy


def gaussian_profile(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred on the middle one (float64)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 2-D Gaussian window, as MATLAB's ``fspecial('gaussian', size, sigma)`` (float64).

    The SSIM window of Wang et al. (2004) is ``gaussian_window(11, 1.5)``.
    """
    g = gaussian_profile(size, sigma)
    return g[:, None] * g[None, :]


def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian sampled at integer offsets, radius ceil(3 sigma) (float32), for blurring."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).float()


def sobel_kernels(dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """The Sobel pair as a (2, 1, 3, 3) ``conv2d`` weight: channel 0 = d/dx, channel 1 = d/dy."""
    kx = torch.tensor(SOBEL_X, dtype=dtype, device=device)
    return torch.stack([kx, kx.T])[:, None]
