"""Peak signal-to-noise ratio, PSNR = 10 log10(255^2 / MSE) in dB, of RGB and of the Y channel.

Y is ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` (``srloss.ops.rgb_to_y``), the SR literature's
PSNR; ``scale`` pixels are cropped from each border first, as in EDSR/BasicSR.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from srloss.metrics.base import METRICS, Column, Metric, each_image
from srloss.metrics.mse import mse

if TYPE_CHECKING:  # imported where it computes: the report reads the declarations without torch
    import torch


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    err = mse(a, b)
    return math.inf if err == 0 else 10.0 * math.log10(peak**2 / err)


@METRICS.register("psnr_rgb")
class PSNRRGB(Metric):
    """Reported beside PSNR Y; the figures take their distortion axis from Y, as the SR literature does."""

    summary = "PSNR of the RGB values, in dB"
    title = "PSNR"
    order = 10
    column = Column("psnr_rgb", "PSNR RGB (dB, border=scale)", "PSNR RGB", "max", unit="dB", format=".2f")

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        return {"psnr_rgb": each_image(sr, hr, scale, psnr)}


@METRICS.register("psnr_y")
class PSNRY(Metric):
    """PSNR on Y, the SR literature's distortion measure: the distortion axis of the figures."""

    summary = "PSNR of the Y channel (BT.601 luma), in dB"
    title = "PSNR"
    order = 20
    column = Column(
        "psnr_y",
        "PSNR Y (dB, BT.601, border=scale)",
        "PSNR Y",
        "max",
        unit="dB",
        format=".2f",
        overview=True,
        role="distortion",
    )

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        from srloss.ops import rgb_to_y

        return {"psnr_y": each_image(sr, hr, scale, lambda s, h: psnr(rgb_to_y(s), rgb_to_y(h)))}
