"""Tiled inference: run a model on overlapping LR tiles and stitch the SR output.

The LR image is split into core tiles of ``tile``×``tile`` pixels that partition it. Each core
is run with ``overlap`` extra LR pixels of context on every side (clipped at the image border),
and only the core's SR pixels are kept. When ``overlap`` is at least the model's receptive
radius (``receptive_radius``), every kept pixel sees exactly the input it sees in whole-image
inference, so the result equals whole-image inference (up to float rounding): at the image
border a tile's padding is the whole image's padding, inside it the context replaces padding.

A smaller overlap bounds memory further at the cost of exactness near tile seams (a common
practice for ESRGAN, whose 23-block exact radius is 352 LR pixels); the difference is measured
in ``bench/eval_memory.py``.

Models that downsample (``unet_geu``: ``depth`` stride-2 levels) need tiles that start on a
multiple of 2^depth and span a multiple of it (unless they end at the border), so the strided
grid and the replicate padding match the whole image's; the model's ``alignment`` gives that multiple.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def receptive_radius(model: nn.Module) -> int:
    """The model's declared receptive radius in LR pixels (``SRModel.receptive_radius``); a model
    that declares none raises: pass ``overlap`` explicitly for it."""
    radius = getattr(model, "receptive_radius", None)
    if radius is None:
        raise ValueError(f"receptive_radius: {type(model).__name__} declares none; give the overlap explicitly")
    return radius()


def alignment(model: nn.Module) -> int:
    """The multiple tile origins and spans must keep (``SRModel.alignment``; 1 if undeclared)."""
    return model.alignment() if hasattr(model, "alignment") else 1


def _check(tile: object, overlap: object) -> None:
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise ValueError(f"tiled_forward: tile must be a positive integer (LR pixels), got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ValueError(f"tiled_forward: overlap must be an integer >= 0 (LR pixels), got {overlap!r}")


def _spans(size: int, tile: int, overlap: int, align: int) -> list[tuple[int, int, int, int]]:
    """(input start, input end, core start, core end) along one axis of ``size`` LR pixels."""
    spans = []
    for c0 in range(0, size, tile):
        c1 = min(size, c0 + tile)
        a = max(0, c0 - overlap) // align * align
        b = min(size, c1 + overlap)
        if b < size:
            b = min(size, a + math.ceil((b - a) / align) * align)
        spans.append((a, b, c0, c1))
    return spans


@torch.no_grad()
def tiled_forward(model: nn.Module, lr: torch.Tensor, scale: int, tile: int | None, overlap: int | None = None):
    """SR of ``lr`` (N×C×H×W, or N×T×C×H×W for multi-frame models) computed tile by tile.

    ``tile`` is the core tile side in LR pixels (0/None: whole image in one pass); ``overlap``
    the LR context added on each side (None: ``receptive_radius(model)``, exact).
    """
    if not tile:
        return model(lr)
    overlap = receptive_radius(model) if overlap is None else overlap
    _check(tile, overlap)
    h, w = lr.shape[-2:]
    align = alignment(model)
    out = None
    for ya, yb, y0, y1 in _spans(h, tile, overlap, align):
        for xa, xb, x0, x1 in _spans(w, tile, overlap, align):
            sr = model(lr[..., ya:yb, xa:xb])
            if out is None:
                out = sr.new_empty(*sr.shape[:-2], h * scale, w * scale)
            crop = sr[..., (y0 - ya) * scale : (y1 - ya) * scale, (x0 - xa) * scale : (x1 - xa) * scale]
            out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] = crop
    return out
