"""A configured loss: a weighted sum of named terms, each term's value reported separately."""

from __future__ import annotations

import torch
from torch import nn

from srloss.losses import LOSS_TERMS, term_labels, term_options


class CompositeLoss(nn.Module):
    """total = sum_i weight_i * term_i(sr, hr, context).

    ``terms`` is a list of (label, weight, module). Calling it returns the total and a dict
    label -> unweighted term value, a detached tensor on the loss's device: converting it to a
    Python number would synchronise host and device, so the training loop does that only once
    per logging window.

    A term whose ``precision`` is ``"fp32"`` runs with autocast disabled on float32 copies of the
    images: under bf16 autocast its convolutions and reductions would otherwise run in bf16
    (tests/test_losses.py compares each term's value and gradient with and without autocast).
    """

    def __init__(self, terms: list[tuple[str, float, nn.Module]]):
        super().__init__()
        if not terms:
            raise ValueError("a loss needs at least one term")
        labels = [label for label, _, _ in terms]
        if len(set(labels)) != len(labels):
            raise ValueError(f"loss term labels must be unique, got {labels}")
        self.labels = labels
        self.weights = [float(w) for _, w, _ in terms]
        self.terms = nn.ModuleList([m for _, _, m in terms])

    def forward(
        self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total = sr.new_zeros(())
        values = {}
        for label, weight, term in zip(self.labels, self.weights, self.terms):
            if term.precision == "fp32" and torch.is_autocast_enabled(sr.device.type):
                with torch.autocast(sr.device.type, enabled=False):
                    value = term(sr.float(), hr.float(), _float(context or {}))
            else:
                value = term(sr, hr, context or {})
            total = total + weight * value
            values[label] = value.detach()
        return total, values


def _float(context: dict) -> dict:
    """``context`` with its floating-point tensors (the LR image) as float32."""
    return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in context.items()}


def build_loss(terms: list[dict]) -> CompositeLoss:
    """Build a ``CompositeLoss`` from the config's term list ``[{"name", "weight", "label", **options}]``."""
    built = []
    for label, term in zip(term_labels(terms), terms):
        built.append((label, term.get("weight", 1.0), LOSS_TERMS[term["name"]](**term_options(term))))
    return CompositeLoss(built)
