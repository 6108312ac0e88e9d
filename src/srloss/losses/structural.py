"""Structural-similarity losses: 1 − SSIM and 1 − MS-SSIM, differentiable, on [0, 1] RGB.

SSIM (Wang et al., "Image Quality Assessment: From Error Visibility to Structural Similarity",
IEEE TIP 2004): Gaussian window (11, σ 1.5), K1 = 0.01, K2 = 0.03, dynamic range 1, valid
region only, computed per RGB channel and averaged (as scikit-image's ``structural_similarity``
with ``gaussian_weights=True, use_sample_covariance=False``).

MS-SSIM (Wang, Simoncelli & Bovik, "Multiscale Structural Similarity for Image Quality
Assessment", Asilomar 2003), as the authors' ``msssim.m`` computes it:

    MS-SSIM = l_M^{w_M} · prod_{j=1..M} cs_j^{w_j},   w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

where cs_j is the mean contrast-structure map at scale j and the coarsest factor l_M·cs_M is the
mean SSIM map at scale M. Between scales each image is low-passed with a 2×2 box filter and
subsampled by 2: MATLAB's ``imfilter(img, ones(2)/4, 'symmetric', 'same')`` then ``(1:2:end)``,
so an odd side keeps its last row (or column) averaged with itself: the output side is
ceil(n/2). The five exponents are used as published (they sum to 1.0001); with fewer
``levels`` the first ones are rescaled to sum to 1. The coarsest scale must still hold one full
window (the authors' check), so 5 levels need images of at least 11·2⁴ = 176 pixels per side;
smaller images are a clear error (use fewer levels or ``ssim``).

Agreement with piq's ``multi_scale_ssim`` (tests/test_losses.py computes a float64 reference of
the formula above and compares both): equal (to 1e-9) when every scale has even sides (e.g.
176, 192, 256 px). On odd sides piq pads the *first* row and column before pooling, which
shifts its sampling grid by one pixel against the authors' code; MS-SSIM then differs by up to
about 1e-3, i.e. 0.1-3 % of the loss 1 − MS-SSIM (1.0 % on 200 px images, 2.6 % on 250 px).
This module follows the authors' code, the reference that defines the index. One deliberate
departure from both: a negative cs (anti-correlated structure, whose fractional power is not
real; MATLAB returns a complex number) is floored at 1e-8, where piq uses 0 (relu). With 0 the
product is 0 and no gradient reaches that image's other scales; the floor keeps the index near
0 but lets the other scales keep training the network.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from srloss.losses import LOSS_TERMS
from srloss.losses.base import LossTerm, WindowedTerm
from srloss.ops.kernels import gaussian_window
from srloss.options import Option, OptionError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
K1, K2 = 0.01, 0.03


def odd_window(value: int) -> int:
    """An odd window side (a centre pixel), else ValueError; shared by the windowed terms."""
    if value % 2 == 0:
        raise ValueError(f"the window must have an odd size (a centre pixel), got {value}")
    return value


WINDOW_OPTIONS = (
    Option("window", 11, "side of the Gaussian window, odd", type=int, ge=3, parse=odd_window),
    Option("sigma", 1.5, "standard deviation of the Gaussian window, in pixels", gt=0),
)


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


def halve(x: torch.Tensor) -> torch.Tensor:
    """2×2 box filter and subsampling by 2 as the authors' MATLAB code: output side ceil(n/2).

    An odd last row (column) is padded with a copy of itself ('symmetric' padding of one pixel).
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


def _check(name: str, sr: torch.Tensor, hr: torch.Tensor, min_side: int, hint: str) -> None:
    if sr.shape != hr.shape or sr.ndim != 4:
        raise ValueError(
            f"{name}: expected SR and HR batches N×C×H×W of the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )
    if min(sr.shape[-2:]) < min_side:
        raise ValueError(
            f"{name}: images of size {sr.shape[-2]}x{sr.shape[-1]} are too small: {hint} needs at least "
            f"{min_side} pixels per side"
        )


@LOSS_TERMS.register("ssim")
class SSIMLoss(WindowedTerm):
    """1 − mean SSIM over images and channels."""

    options = WINDOW_OPTIONS

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.register_buffer("win", gaussian_window(self.window, self.sigma).float(), persistent=False)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        _check("ssim", sr, hr, self.window, f"the {self.window}-pixel window")
        ssim, _ = _ssim_terms(sr, hr, self.win)
        return 1 - ssim.mean()


@LOSS_TERMS.register("ms_ssim")
class MSSSIMLoss(LossTerm):
    """1 − MS-SSIM (mean over images and channels); see the module docstring for the formula."""

    options = (Option("levels", 5, "number of dyadic scales", type=int, ge=1, le=len(MS_SSIM_WEIGHTS)), *WINDOW_OPTIONS)

    def __init__(self, **options: Any):
        super().__init__(**options)
        w = torch.tensor(MS_SSIM_WEIGHTS[: self.levels], dtype=torch.float64)
        if self.levels < len(MS_SSIM_WEIGHTS):
            w = w / w.sum()
        self.register_buffer("weights", w.float(), persistent=False)
        self.register_buffer("win", gaussian_window(self.window, self.sigma).float(), persistent=False)

    @staticmethod
    def min_side(options: dict[str, Any]) -> int:
        """The smallest image side the coarsest scale still fits a window in (the authors' check)."""
        return options["window"] * 2 ** (options["levels"] - 1)

    @classmethod
    def check_patch_size(cls, options: dict[str, Any], patch_size: int) -> None:
        need = cls.min_side(options)
        if patch_size < need:
            raise OptionError(
                "levels",
                f"{options['levels']} levels with a {options['window']}-pixel window need "
                f"patches of at least {need} pixels per side, not {patch_size} "
                "(use fewer levels, or the ssim term)",
            )

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        need = self.min_side({"window": self.window, "levels": self.levels})
        _check(
            "ms_ssim",
            sr,
            hr,
            need,
            f"{self.levels} levels with a {self.window}-pixel window (use fewer `levels`, or `ssim`)",
        )
        values = []
        for j in range(self.levels):
            ssim, cs = _ssim_terms(sr, hr, self.win)
            values.append(ssim if j == self.levels - 1 else cs)
            if j < self.levels - 1:
                sr, hr = halve(sr), halve(hr)
        # A negative cs has no real fractional power: floor it (relu would zero the other scales' gradients too).
        stacked = torch.stack(values).clamp_min(1e-8)  # levels×N×C
        ms_ssim = torch.prod(stacked ** self.weights.to(stacked.dtype).view(-1, 1, 1), dim=0)
        return 1 - ms_ssim.mean()
