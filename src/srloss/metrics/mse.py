"""Mean squared error on the 0-255 scale, over RGB (``scale`` pixels cropped from each border)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from srloss.metrics.base import METRICS, Column, Metric, check_pair, each_image

if TYPE_CHECKING:  # imported where it computes: the report reads the declarations without torch
    import torch


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error of two uint8-valued images, in float64 on the 0-255 scale."""
    check_pair(a, b)
    return float(((a.double() - b.double()) ** 2).mean())


@METRICS.register("mse")
class MSE(Metric):
    summary = "mean squared error of the RGB values (0-255 scale)"
    title = "MSE"
    order = 40
    column = Column("mse", "MSE (0-255, RGB)", "MSE", "min", format=".2f", bounds=(0.0, math.inf), role="distortion")

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        return {"mse": each_image(sr, hr, scale, mse)}
