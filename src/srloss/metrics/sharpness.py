"""Sharpness from the Sobel gradient magnitude of the Y channel, and the detail crop of the figures.

G = mean Sobel gradient magnitude of Y (0-255 scale, valid region), a gradient-based focus
measure (Pertuz et al., "Analysis of focus measure operators for shape-from-focus", Pattern
Recognition 2013, gradient family; not Tenengrad, which squares the magnitude).

* ``sharpness_diff``: (G(HR) - G(SR)) / G(HR), positive = the reconstruction is blurrier. It is
  signed, so lost and added gradient cancel: noise on a blurry output can score 0.
* ``sharpness_lost``, ``sharpness_added``: the per-pixel difference of magnitudes split into its
  two signs (``sharpness_split``), which do not cancel: blur shows in lost, noise in added.

Y is BT.601 luma of the uint8-valued images, ``scale`` pixels cropped from each border first.
``detail_crop`` picks the window of the ground truth with the most gradient, the crop that the
comparison grids show.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from srloss.metrics.base import METRICS, Column, Metric, check_pair, each_image

if TYPE_CHECKING:  # imported where it computes: the report reads the declarations without torch
    import torch


def gradient_magnitude_map(y: torch.Tensor) -> torch.Tensor:
    """Per-pixel Sobel gradient magnitude sqrt(Gx^2 + Gy^2) of a single-channel (H, W) image, valid region."""
    if y.ndim != 2 or min(y.shape) < 3:
        raise ValueError(
            f"gradient_magnitude: expected a single-channel (H, W) image of at least 3x3, got shape {tuple(y.shape)}"
        )
    import torch
    import torch.nn.functional as F

    from srloss.ops.kernels import sobel_kernels

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
    import torch

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
    import torch
    import torch.nn.functional as F

    from srloss.ops import rgb_to_y
    from srloss.ops.kernels import sobel_kernels

    y = rgb_to_y(hr)
    side = min(size, y.shape[-2], y.shape[-1])
    g = F.conv2d(F.pad(y[None, None], (1, 1, 1, 1), mode="replicate"), sobel_kernels(torch.float64, y.device))[0]
    mag = torch.sqrt(g[0] ** 2 + g[1] ** 2)
    step = max(1, side // 4)
    means = F.avg_pool2d(mag[None, None], side, stride=step)[0, 0]
    idx = int(torch.argmax(means))
    return (idx // means.shape[1]) * step, (idx % means.shape[1]) * step, side


def _on_y(measure: Callable[[torch.Tensor, torch.Tensor], float]) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """``measure`` of the Y channels of an RGB pair."""
    from srloss.ops import rgb_to_y

    return lambda sr, hr: measure(rgb_to_y(sr), rgb_to_y(hr))


@METRICS.register("sharpness_diff")
class SharpnessDifference(Metric):
    summary = "relative loss of mean gradient magnitude (G(HR) - G(SR)) / G(HR); signed, so blur and noise cancel"
    title = "Sharpness difference"
    order = 50
    column = Column(
        "sharpness_diff",
        "Sharpness diff ((G_HR-G_SR)/G_HR, G=mean Sobel magnitude of Y; +=blurrier; signed)",
        "Sharpness diff",
        "zero",
        format=".3f",
    )

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        return {"sharpness_diff": each_image(sr, hr, scale, _on_y(sharpness_difference))}


@METRICS.register("sharpness_lost")
class SharpnessLost(Metric):
    summary = "gradient magnitude the reconstruction lost, mean relu(M_HR - M_SR) / G(HR): blur"
    title = "Sharpness lost"
    order = 60
    column = Column(
        "sharpness_lost",
        "Sharpness lost (mean relu(M_HR-M_SR)/G_HR, Sobel Y)",
        "Sharpness lost",
        "min",
        bounds=(0.0, math.inf),
    )

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        return {"sharpness_lost": each_image(sr, hr, scale, _on_y(lambda s, h: sharpness_split(s, h)[0]))}


@METRICS.register("sharpness_added")
class SharpnessAdded(Metric):
    summary = "gradient magnitude the reconstruction added, mean relu(M_SR - M_HR) / G(HR): noise, ringing"
    title = "Sharpness added"
    order = 70
    column = Column(
        "sharpness_added",
        "Sharpness added (mean relu(M_SR-M_HR)/G_HR, Sobel Y; noise)",
        "Sharpness added",
        "min",
        bounds=(0.0, math.inf),
    )

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        return {"sharpness_added": each_image(sr, hr, scale, _on_y(lambda s, h: sharpness_split(s, h)[1]))}
