"""Structural-similarity losses: 1 − SSIM and 1 − MS-SSIM, differentiable, on [0, 1] RGB.

SSIM (Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity",
IEEE TIP 2004): Gaussian window (11, σ 1.5), K1 = 0.01, K2 = 0.03, dynamic range 1, valid
region only, computed per RGB channel and averaged (as scikit-image's ``structural_similarity``
with ``gaussian_weights=True, use_sample_covariance=False``).

MS-SSIM (Wang, Simoncelli & Bovik, "Multiscale Structural Similarity for Image Quality
Assessment", Asilomar 2003): contrast-structure terms at ``levels`` dyadic scales (2×2 average
pooling between them) and the luminance term at the coarsest, combined with the paper's
exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), renormalised when fewer levels are used.
The coarsest level must still hold one full window, so 5 levels need images of at least
11·2⁴ = 176 pixels per side; smaller images are a clear error (use fewer levels or ``ssim``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srloss.metrics import gaussian_window

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2 = 0.01, 0.03


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel means of the SSIM map and of the contrast-structure map (N×C each)."""
    c = x.shape[1]
    kernel = win.to(x.dtype).expand(c, 1, *win.shape)

    def conv(t: torch.Tensor) -> torch.Tensor:  # per-channel Gaussian mean, valid region
        return F.conv2d(t, kernel, groups=c)

    mu_x, mu_y = conv(x), conv(y)
    sxx = conv(x * x) - mu_x**2
    syy = conv(y * y) - mu_y**2
    sxy = conv(x * y) - mu_x * mu_y
    c1, c2 = K1**2, K2**2
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs).mean((-2, -1)), cs.mean((-2, -1))


def _check(name: str, sr: torch.Tensor, hr: torch.Tensor, min_side: int, hint: str) -> None:
    if sr.shape != hr.shape or sr.ndim != 4:
        raise ValueError(f"{name}: expected SR and HR batches N×C×H×W of the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}")
    if min(sr.shape[-2:]) < min_side:
        raise ValueError(f"{name}: images of size {sr.shape[-2]}x{sr.shape[-1]} are too small: {hint} needs at least "
                         f"{min_side} pixels per side")


class SSIMLoss(nn.Module):
    """1 − mean SSIM over images and channels."""

    def __init__(self, window: int = 11, sigma: float = 1.5):
        super().__init__()
        if window < 3 or window % 2 == 0 or sigma <= 0:
            raise ValueError(f"ssim: window must be odd and >= 3 and sigma positive, got window {window}, sigma {sigma}")
        self.register_buffer("win", gaussian_window(window, sigma).float(), persistent=False)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        _check("ssim", sr, hr, self.win.shape[-1], f"the {self.win.shape[-1]}-pixel window")
        ssim, _ = _ssim_terms(sr, hr, self.win)
        return 1 - ssim.mean()


class MSSSIMLoss(nn.Module):
    """1 − MS-SSIM (mean over images and channels)."""

    def __init__(self, levels: int = 5, window: int = 11, sigma: float = 1.5):
        super().__init__()
        if not 1 <= levels <= len(MS_SSIM_WEIGHTS):
            raise ValueError(f"ms_ssim: levels must be between 1 and {len(MS_SSIM_WEIGHTS)}, got {levels}")
        if window < 3 or window % 2 == 0 or sigma <= 0:
            raise ValueError(f"ms_ssim: window must be odd and >= 3 and sigma positive, got window {window}, sigma {sigma}")
        w = torch.tensor(MS_SSIM_WEIGHTS[:levels])
        self.register_buffer("weights", w / w.sum(), persistent=False)
        self.register_buffer("win", gaussian_window(window, sigma).float(), persistent=False)
        self.levels, self.window = levels, window

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        min_side = self.window * 2 ** (self.levels - 1)
        _check("ms_ssim", sr, hr, min_side, f"{self.levels} levels with a {self.window}-pixel window (use fewer `levels`, or `ssim`)")
        values = []
        for j in range(self.levels):
            ssim, cs = _ssim_terms(sr, hr, self.win)
            values.append(ssim if j == self.levels - 1 else cs)
            if j < self.levels - 1:
                sr, hr = F.avg_pool2d(sr, 2), F.avg_pool2d(hr, 2)
        # Negative cs (anti-correlated structure) has no real fractional power: clamp, as piq does with relu.
        stacked = torch.stack(values).clamp_min(1e-8)  # levels×N×C
        ms_ssim = torch.prod(stacked ** self.weights.view(-1, 1, 1), dim=0)
        return 1 - ms_ssim.mean()
