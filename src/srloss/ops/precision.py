"""How far a computation under reduced-precision autocast is from the same one in float32.

The measurement behind a loss term's ``precision`` declaration (``srloss.losses.base.LossTerm``):
tests/test_losses.py and bench/gpu_check.py run each term through ``CompositeLoss`` with and
without bf16 autocast and compare. A term declared ``"fp32"`` must agree closely, since
``CompositeLoss`` computes it in float32 either way. Not imported by the package: no stage runs it.
"""

from __future__ import annotations

from typing import Callable

import torch


def autocast_agreement(
    loss: Callable, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None, dtype=torch.bfloat16
) -> tuple[float, float]:
    """(relative difference of the values, cosine similarity of the gradients with respect to ``sr``)
    of ``loss(sr, hr, context)`` under ``dtype`` autocast on ``sr``'s device against the same call
    without autocast. ``loss`` returns a scalar, or a tuple whose first item is one (``CompositeLoss``)."""
    (low, low_grad), (full, full_grad) = (_value_and_grad(loss, sr, hr, context, dtype, on) for on in (True, False))
    cosine = float(torch.nn.functional.cosine_similarity(low_grad, full_grad, dim=0))
    return abs(low - full) / (abs(full) or 1.0), cosine  # a zero loss: the absolute difference


def _value_and_grad(
    loss: Callable, sr: torch.Tensor, hr: torch.Tensor, context: dict | None, dtype, autocast: bool
) -> tuple[float, torch.Tensor]:
    """The loss's value and its gradient with respect to ``sr`` (flattened), with or without autocast."""
    sr = sr.detach().clone().requires_grad_(True)
    with torch.autocast(sr.device.type, dtype=dtype, enabled=autocast):
        value = loss(sr, hr, context or {})
        value = value[0] if isinstance(value, tuple) else value
    value.backward()
    return float(value.detach()), sr.grad.flatten()
