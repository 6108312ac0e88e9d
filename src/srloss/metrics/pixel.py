"""Pixel metrics, following the conventions of the SR literature.

All functions take uint8-valued images (the SR output is rounded to uint8 first, as when it is
saved) as CHW RGB tensors, and compute in float64 on the 0-255 scale.

* Y channel: ITU-R BT.601 luma, as MATLAB's ``rgb2ycbcr`` (``srloss.ops.rgb_to_y``).
* Border: ``scale`` pixels are cropped from each side before any metric, as in EDSR/BasicSR.
* PSNR = 10 log10(255^2 / MSE).
* SSIM: Wang et al., "Image Quality Assessment: From Error Visibility to Structural
  Similarity" (TIP 2004), with the authors' MATLAB settings: 11x11 Gaussian window,
  sigma = 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean over the valid region only.
* MSE on the 0-255 scale, over RGB.
* Sharpness difference (G(HR) - G(SR)) / G(HR), G = mean Sobel gradient magnitude of Y;
  positive = reconstruction blurrier (``sharpness_difference``). It is signed, so lost and
  added gradient cancel: noise on a blurry output can score 0. ``sharpness_split`` reports the
  two parts apart (``sharpness_lost``, ``sharpness_added``; see there).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from srloss.ops import crop_border, rgb_to_y
from srloss.ops.kernels import gaussian_profile, sobel_kernels


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error on the 0-255 scale."""
    check_pair(a, b)
    return float(torch.mean((a.double() - b.double()) ** 2))


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    err = mse(a, b)
    return math.inf if err == 0 else 10.0 * math.log10(peak**2 / err)


def _gaussian_filter_valid(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Correlate the last two axes with the normalised Gaussian window, valid region only.

    The window is separable (outer product of its 1-D profile), so this is two 1-D passes of
    shifted, weighted sums: the same values as a 2-D convolution up to float64 rounding, and
    about 8x faster than float64 ``conv2d`` on the CPU.
    """
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
    return float(torch.mean(num / den))


def image_metrics(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """The standard metric set for one SR/HR pair of uint8 CHW RGB images."""
    check_pair(sr, hr)
    sr_c, hr_c = crop_border(sr, scale), crop_border(hr, scale)
    y_sr, y_hr = rgb_to_y(sr_c), rgb_to_y(hr_c)
    return {
        "psnr_rgb": psnr(sr_c, hr_c),
        "psnr_y": psnr(y_sr, y_hr),
        "ssim_y": ssim(y_sr, y_hr),
        "mse": mse(sr_c, hr_c),
    }


def check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    """Both images of a metric must have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


# --- Sharpness -------------------------------------------------------------------------------


def gradient_magnitude_map(y: torch.Tensor) -> torch.Tensor:
    """Per-pixel Sobel gradient magnitude sqrt(Gx^2 + Gy^2) of a single-channel (H, W) image, valid region."""
    if y.ndim != 2 or min(y.shape) < 3:
        raise ValueError(
            f"gradient_magnitude: expected a single-channel (H, W) image of at least 3x3, got shape {tuple(y.shape)}"
        )
    g = F.conv2d(y.double()[None, None], sobel_kernels(torch.float64, y.device))[0]  # d/dx, d/dy
    return torch.sqrt(g[0] ** 2 + g[1] ** 2)


def gradient_magnitude(y: torch.Tensor) -> torch.Tensor:
    """G: the mean Sobel gradient magnitude of a single-channel (H, W) image, valid region.

    The magnitude itself, averaged; not Tenengrad (Pertuz et al. 2013's GRA6), which averages
    the *squared* magnitude Gx^2 + Gy^2 and so weighs strong edges far more than fine texture.
    """
    return gradient_magnitude_map(y).mean()


def sharpness_difference(sr_y: torch.Tensor, hr_y: torch.Tensor) -> float:
    """Relative loss of sharpness of the reconstruction: (G(HR) - G(SR)) / G(HR).

    G is the mean Sobel gradient magnitude of the Y channel (0-255 scale, valid region;
    ``gradient_magnitude``), a gradient-based focus measure (Pertuz et al., "Analysis of focus
    measure operators for shape-from-focus", Pattern Recognition 2013, gradient family; it is
    not Tenengrad, which squares the magnitude). Positive = the reconstruction has less mean
    gradient magnitude than the ground truth (0.25: a quarter of it is missing); negative =
    more (over-sharpened or noisy); NaN when the ground truth is flat (G(HR) = 0).

    Blur and noise cancel in it: it equals ``lost - added`` of ``sharpness_split``, so a blurry
    reconstruction with enough noise scores 0, "as sharp as the ground truth". Read it with
    ``sharpness_split``, whose two parts do not cancel.
    """
    check_pair(sr_y, hr_y)
    g_hr, g_sr = float(gradient_magnitude(hr_y)), float(gradient_magnitude(sr_y))
    return math.nan if g_hr == 0 else (g_hr - g_sr) / g_hr


def sharpness_split(sr_y: torch.Tensor, hr_y: torch.Tensor) -> tuple[float, float]:
    """(lost, added): the per-pixel gradient-magnitude difference split into its two signs.

    With M_SR, M_HR the per-pixel Sobel magnitudes (``gradient_magnitude_map``) and
    d = M_SR - M_HR: lost = mean(max(-d, 0)) / G(HR), added = mean(max(d, 0)) / G(HR). Both are
    >= 0 and 0 only when no pixel lost (resp. gained) gradient; ``sharpness_difference`` =
    lost - added. Blur shows in ``lost`` (edges flattened), noise and ringing in ``added``
    (gradient where the ground truth has none), so a noisy, blurry output scores high in both
    where the signed difference may be 0. NaN, NaN when the ground truth is flat.
    """
    check_pair(sr_y, hr_y)
    m_hr = gradient_magnitude_map(hr_y)
    d = gradient_magnitude_map(sr_y) - m_hr
    g_hr = float(m_hr.mean())
    if g_hr == 0:
        return math.nan, math.nan
    return float(torch.relu(-d).mean()) / g_hr, float(torch.relu(d).mean()) / g_hr


def detail_crop(hr: torch.Tensor, size: int) -> tuple[int, int, int]:
    """The (top, left, side) of the square window of the ground truth with the most detail.

    Detail = mean Sobel gradient magnitude of Y over the window; candidate windows lie on a
    grid with step side // 4 (ties: the first in raster order), so the choice depends only on
    the ground truth and is the same for every run. ``side`` = min(size, H, W).
    """
    y = rgb_to_y(hr)
    side = min(size, y.shape[-2], y.shape[-1])
    g = F.conv2d(F.pad(y[None, None], (1, 1, 1, 1), mode="replicate"), sobel_kernels(torch.float64, y.device))[0]
    mag = torch.sqrt(g[0] ** 2 + g[1] ** 2)
    step = max(1, side // 4)
    means = F.avg_pool2d(mag[None, None], side, stride=step)[0, 0]
    idx = int(torch.argmax(means))
    return (idx // means.shape[1]) * step, (idx % means.shape[1]) * step, side
