"""Structural similarity of the Y channel: Wang et al., "Image Quality Assessment: From Error
Visibility to Structural Similarity" (TIP 2004), with the authors' MATLAB settings: 11x11
Gaussian window, sigma = 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean over the valid region only.

Y is BT.601 luma (``srloss.ops.rgb_to_y``) of the uint8-valued SR and HR images, ``scale``
pixels cropped from each border first; computed in float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from srloss.metrics.base import METRICS, Column, Metric, check_pair, each_image

if TYPE_CHECKING:  # imported where it computes: the report reads the declarations without torch
    import torch


def _gaussian_filter_valid(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Correlate the last two axes with the normalised Gaussian window, valid region only.

    The window is separable (outer product of its 1-D profile), so this is two 1-D passes of
    shifted, weighted sums: the same values as a 2-D convolution up to float64 rounding, and
    about 8x faster than float64 ``conv2d`` on the CPU.
    """
    from srloss.ops.kernels import gaussian_profile

    g = gaussian_profile(size, sigma).tolist()
    for dim in (-2, -1):
        n = x.shape[dim] - size + 1
        out = x.narrow(dim, 0, n) * g[0]
        for i in range(1, size):
            out.add_(x.narrow(dim, i, n), alpha=g[i])
        x = out
    return x


def ssim(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """SSIM of two single-channel images (H, W) on the 0-``peak`` scale (Wang et al. 2004)."""
    import torch

    check_pair(a, b)
    if a.ndim != 2:
        raise ValueError(f"ssim: expected single-channel (H, W) images, got shape {tuple(a.shape)}")
    if min(a.shape) < 11:
        raise ValueError(f"ssim: images must be at least 11x11 for the 11x11 window, got {tuple(a.shape)}")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    x, y = a.double(), b.double()
    stack = torch.stack([x, y, x * x, y * y, x * y])  # the five maps, filtered together
    mu_x, mu_y, exx, eyy, exy = _gaussian_filter_valid(stack)
    sxx = exx - mu_x**2
    syy = eyy - mu_y**2
    sxy = exy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float((num / den).mean())


@METRICS.register("ssim_y")
class SSIMY(Metric):
    summary = "SSIM of the Y channel (Wang et al. 2004, Gaussian window 11/1.5)"
    title = "SSIM"
    order = 30
    column = Column(
        "ssim_y",
        "SSIM Y (Gaussian 11/1.5, border=scale)",
        "SSIM Y",
        "max",
        bounds=(-1.0, 1.0),
        overview=True,
        role="distortion",
    )

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        from srloss.ops import rgb_to_y

        return {"ssim_y": each_image(sr, hr, scale, lambda s, h: ssim(rgb_to_y(s), rgb_to_y(h)))}
