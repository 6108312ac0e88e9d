"""MATLAB-compatible bicubic resizing, the SR literature's benchmark degradation and upscaler.

``imresize`` reproduces MATLAB's ``imresize(img, scale, 'bicubic')``:

* Keys' cubic convolution kernel with a = -0.5 (Keys 1981, "Cubic convolution interpolation
  for digital image processing");
* when downscaling, the kernel is stretched by 1/scale (antialiasing), so x4 downscaling
  averages over 16 input pixels per axis instead of 4;
* borders are padded symmetrically (the edge pixel is repeated: ``... b a | a b ...``);
* output size is ``ceil(in * scale)``.

torch's ``interpolate(mode="bicubic")`` uses a = -0.75 and (by default) no antialiasing, and
PIL uses a = -0.5 with antialiasing but different border handling and rounding, so their
LR images differ from the benchmarks' by up to a few grey levels.

Integer factors run per axis as a polyphase FIR filter, applied as one small banded matrix
per block of rows or columns (cost linear in the side), other scales as one product with a
precomputed dense (out, in) weight matrix per axis; both are vectorised, run on any device and
are differentiable (the downsampled-space loss back-propagates through it). Computation is in
float; uint8 input is rounded back to uint8.
The data layer (LR images), the models (bicubic baseline, residual paths) and the losses
(downsampled-space consistency) all use this one implementation.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator, NamedTuple

import numpy as np
import torch


def cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (a + 2) * ax3 - (a + 3) * ax2 + 1
    far = a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    return np.where(ax <= 1, near, np.where(ax <= 2, far, 0.0))


def resize_taps(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per output sample: 0-based input indices before mirroring (out, taps) and float64 weights."""
    shrink = scale < 1 and antialias
    width = 4.0 / scale if shrink else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)  # 1-based output coordinates, as in MATLAB
    u = x / scale + 0.5 * (1 - 1 / scale)  # their positions in input coordinates
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # (out_len, taps), 1-based
    dist = u[:, None] - idx
    weights = scale * cubic(scale * dist) if shrink else cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    return (idx - 1).astype(np.int64), weights


def mirror_indices(idx: np.ndarray, in_len: int) -> np.ndarray:
    """Symmetric padding: index sequence 0..n-1, n-1..0, repeating (MATLAB's 'symmetric')."""
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    return mirror[idx % (2 * in_len)]


@functools.lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """Float64 (out_len, in_len) matrix M such that ``M @ signal`` is MATLAB's bicubic resize."""
    idx, weights = resize_taps(in_len, out_len, scale, antialias)
    cols = mirror_indices(idx, in_len)
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(matrix, (np.repeat(np.arange(out_len), idx.shape[1]), cols.ravel()), weights.ravel())
    return matrix


# Phase groups per block matrix (``fir_plan``), chosen by timing 2040x1356 resizes (x2-x4, up
# and down) on 2 CPU cores: larger blocks multiply more zeros, smaller ones make more calls.
ROW_BLOCK, COL_BLOCK = 8, 16


class FirPlan(NamedTuple):
    """An integer-factor resize of one axis as a polyphase FIR filter on the mirror-padded input.

    Output ``q * phases + k`` is ``sum(w * padded[q * stride + d] for d, w in taps[k])``, where
    ``padded[p]`` is input sample ``rows[p]`` (symmetric padding) and ``padded[0]`` sits at
    input index ``first`` (possibly negative). Downscaling by f: stride f, one phase (16 taps
    at x4); upscaling by r: stride 1, r phases of 4 taps (1 where an output falls on an input
    sample). ``matrix`` applies the filter to ``block`` phase groups at once: (phases * block,
    stride * (block - 1) + span) float64, the same banded matrix for every block, since the
    weights are shift-invariant.
    """

    rows: np.ndarray
    taps: tuple[tuple[tuple[int, float], ...], ...]
    stride: int
    first: int
    span: int
    out_len: int
    block: int
    matrix: np.ndarray


@functools.lru_cache(maxsize=64)
def fir_plan(in_len: int, factor: int, upscale: bool, block: int = ROW_BLOCK) -> FirPlan | None:
    """The ``FirPlan`` of MATLAB's bicubic resize by ``factor`` (up) or ``1 / factor`` (down).

    Derived from ``resize_taps``, so it has the same weights and mirror indices as
    ``resize_matrix``; None if the weights are not shift-invariant per phase (never for
    integer factors, checked all the same).
    """
    stride, phases = (1, factor) if upscale else (factor, 1)
    scale = float(factor) if upscale else 1.0 / factor
    out_len = in_len * factor if upscale else math.ceil(in_len / factor)
    idx, weights = resize_taps(in_len, out_len, scale, True)
    n_q = out_len // phases
    idx = idx.reshape(n_q, phases, -1) - stride * np.arange(n_q)[:, None, None]
    weights = weights.reshape(n_q, phases, -1)
    if not (idx == idx[:1]).all() or not np.allclose(weights, weights[:1], rtol=0, atol=1e-12):
        return None
    nonzero = weights[0] != 0
    first = int(idx[0][nonzero].min())
    span = int(idx[0][nonzero].max()) - first + 1
    taps = tuple(
        tuple((int(i) - first, float(w)) for i, w in zip(idx[0, k], weights[0, k]) if w != 0) for k in range(phases)
    )
    rows = mirror_indices(np.arange(first, first + stride * (n_q - 1) + span), in_len)
    matrix = np.zeros((phases * block, stride * (block - 1) + span))
    for q in range(block):
        for k, phase in enumerate(taps):
            for d, w in phase:
                matrix[q * phases + k, q * stride + d] = w
    return FirPlan(rows, taps, stride, first, span, out_len, block, matrix)


def fir_axis(x: torch.Tensor, plan: FirPlan, axis: int) -> torch.Tensor:
    """Resize axis -2 or -1 of (..., H, W) with a ``FirPlan``: one small matmul per block.

    Each block of ``plan.block`` phase groups is the plan's banded matrix times the input
    samples it reads: a few dozen multiply-adds per output instead of the dense matrix's whole
    input axis, so the cost is linear in the side. On the CPU the block matmuls ran as fast as
    per-tap multiply-adds of strided slices when downscaling and 2-3x faster when upscaling,
    and they need no transposes for the W axis. Without autograd the blocks are written
    straight into the output; only blocks that touch a border read a symmetrically padded
    copy of their samples.
    """
    if axis not in (-2, -1):
        raise ValueError(f"fir_axis: axis must be -2 or -1, got {axis}")
    n_in, phases, stride = x.shape[axis], len(plan.taps), plan.stride
    n_q = plan.out_len // phases
    matrix = torch.from_numpy(plan.matrix).to(x.device, x.dtype)
    out = None
    if not x.requires_grad:
        shape = list(x.shape)
        shape[axis] = plan.out_len
        out = x.new_empty(shape)
    parts = []
    for q0 in range(0, n_q, plan.block):
        m = min(plan.block, n_q - q0)
        lo, hi = stride * q0, stride * (m - 1) + plan.span + stride * q0  # padded coordinates
        if plan.first + lo >= 0 and plan.first + hi <= n_in:
            src = x.narrow(axis, plan.first + lo, hi - lo)
        else:
            src = x.index_select(axis, torch.as_tensor(plan.rows[lo:hi], device=x.device))
        weights = matrix[: phases * m, : hi - lo]
        target = None if out is None else out.narrow(axis, phases * q0, phases * m)
        if axis == -2:
            parts.append(torch.matmul(weights, src, out=target))
        else:
            parts.append(torch.matmul(src, weights.T, out=target))
    return torch.cat(parts, dim=axis) if out is None else out


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run the enclosed torch CPU ops on one thread (restored afterwards).

    The FIR issues many small matmuls; splitting each across threads cost more in hand-offs
    than it gained (5-10x slower with 2 threads than with 1 on 2 busy cores).
    """
    n = torch.get_num_threads()
    if n > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n > 1:
            torch.set_num_threads(n)


def _fir_2d(x: torch.Tensor, factor: int, upscale: bool) -> torch.Tensor | None:
    """Both axes of (..., H, W) by an integer factor.

    The row pass (contiguous blocks of whole rows) makes the larger of the two results:
    upscaling resizes W first, downscaling H first (the other order measured 1.5-2x slower
    for upscaling). (torch's ``interpolate(mode="bicubic", antialias=True)`` matches MATLAB
    away from the borders but truncates the kernel there, and measured slower than this on 2
    CPU cores.)
    """
    plan_h = fir_plan(x.shape[-2], factor, upscale, ROW_BLOCK)
    plan_w = fir_plan(x.shape[-1], factor, upscale, COL_BLOCK)
    if plan_h is None or plan_w is None:
        return None
    if upscale:
        return fir_axis(fir_axis(x, plan_w, -1), plan_h, -2)
    return fir_axis(fir_axis(x, plan_h, -2), plan_w, -1)


def integer_factor(scale: float, antialias: bool) -> tuple[int, bool]:
    """(factor, upscale) when ``scale`` is an integer factor the FIR path handles, else (0, False).

    Downscaling needs antialiasing (MATLAB's default; without it the taps of successive
    outputs are not one kernel apart); scale 1 is left to the matrix path.
    """
    if scale > 1 and float(scale).is_integer():  # exactly: ceil(in * scale) must be in * factor
        return int(scale), True
    factor = round(1 / scale)
    if antialias and scale < 1 and factor > 1 and abs(1 / scale - factor) < 1e-9:
        return factor, False
    return 0, False


def imresize(img: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """Resize the last two axes of ``img`` (..., H, W) by ``scale`` like MATLAB's bicubic imresize.

    Float input stays float (values may overshoot [0, 1] as in MATLAB); uint8 input is computed
    in float32 and rounded and clipped back to uint8. Integer factors (x2, x3, ... and, with
    antialiasing, 1/2, 1/3, ...) run as a blocked polyphase FIR per axis (``fir_plan``; cost
    linear in the image size, on CPU on one thread, see ``one_cpu_thread``); other scales use
    one dense matrix product per axis. Both give the same numbers as ``resize_matrix`` (tested
    against a float64 reference).
    """
    if scale <= 0:
        raise ValueError(f"imresize: scale must be positive, got {scale}")
    if img.ndim < 2:
        raise ValueError(f"imresize: expected an image with at least 2 axes (..., H, W), got shape {tuple(img.shape)}")
    factor, upscale = integer_factor(scale, antialias)
    with one_cpu_thread() if factor and img.device.type == "cpu" else contextlib.nullcontext():
        return _imresize(img, scale, antialias, factor, upscale)


def _imresize(img: torch.Tensor, scale: float, antialias: bool, factor: int, upscale: bool) -> torch.Tensor:
    is_uint8 = img.dtype == torch.uint8
    x = img.float() if is_uint8 or not img.is_floating_point() else img
    h, w = x.shape[-2:]
    out = _fir_2d(x, factor, upscale) if factor else None
    if out is None:
        out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
        mh = torch.from_numpy(resize_matrix(h, out_h, float(scale), antialias)).to(x.device, x.dtype)
        mw = torch.from_numpy(resize_matrix(w, out_w, float(scale), antialias)).to(x.device, x.dtype)
        out = mh @ x @ mw.T
    if is_uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    return out
