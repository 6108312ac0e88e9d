"""Pixel losses: compare SR and HR images value by value, in [0, 1] intensities."""

from __future__ import annotations

import torch
from torch import nn


class MSELoss(nn.Module):
    """Mean squared error, mean((sr - hr)^2). Maximising PSNR is minimising this."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean((sr - hr) ** 2)


class L1Loss(nn.Module):
    """Mean absolute error, mean(|sr - hr|)."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean(torch.abs(sr - hr))


class CharbonnierLoss(nn.Module):
    """Charbonnier loss, mean(sqrt((sr - hr)^2 + eps^2)), a differentiable L1.

    Lai et al., "Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution"
    (CVPR 2017). The default eps = 1e-3 is LapSRN's value and the one used by the
    multi-frame face study: on [0, 1] images it is a quarter of a grey level, so the loss
    behaves like L1 for any visible error while staying smooth at zero. As eps -> 0 it tends
    to L1 (the loss is offset from L1 by at most eps).
    """

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        if eps <= 0:
            raise ValueError(f"charbonnier: eps must be positive, got {eps}")
        self.eps = eps

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        return torch.mean(torch.sqrt((sr - hr) ** 2 + self.eps**2))
