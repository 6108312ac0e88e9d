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

Each axis is resized by one matrix product with a precomputed (out, in) weight matrix, so the
operation is vectorised, runs on any device and is differentiable (the downsampled-space loss
back-propagates through it). Computation is in float; uint8 input is rounded back to uint8.
The data layer (LR images), the models (bicubic baseline, residual paths) and the losses
(downsampled-space consistency) all use this one implementation.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator

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


@functools.lru_cache(maxsize=64)
def _strided_plan(in_len: int, factor: int) -> tuple[np.ndarray, np.ndarray] | None:
    """For an integer downscale factor every output uses the same kernel at a stride of ``factor``.

    Returns (mirrored input indices covering all taps, the kernel) so the resize is one padded,
    strided convolution; None if the weights are not shift-invariant (never for integer factors).
    """
    out_len = math.ceil(in_len / factor)
    idx, weights = resize_taps(in_len, out_len, 1.0 / factor, True)
    if not np.allclose(weights, weights[:1], rtol=0, atol=1e-12) or not (np.diff(idx[:, 0]) == factor).all():
        return None
    start = idx[0, 0]
    span = np.arange(start, start + factor * (out_len - 1) + idx.shape[1])
    return mirror_indices(span, in_len), weights[0]


def _downscale_rows(x: torch.Tensor, factor: int) -> torch.Tensor | None:
    """Downscale axis -2 of (..., H, W) by an integer factor: a padded, strided FIR filter.

    Each output row is a weighted sum of ``taps`` input rows (16 non-zero taps at x4 instead
    of the dense matrix's full column). Without autograd the sum is accumulated in place over
    blocks of output rows of about 128k values, so the accumulator stays in cache (memory
    traffic, not arithmetic, bounds this), and only blocks that touch a border read a
    symmetrically padded copy of their rows; with autograd it is a plain differentiable sum of
    strided slices of the padded image.
    """
    plan = _strided_plan(x.shape[-2], factor)
    if plan is None:
        return None
    rows, kernel = plan
    n_out = math.ceil(x.shape[-2] / factor)
    taps = [(k, wk) for k, wk in enumerate(kernel.tolist()) if wk != 0.0]
    if x.requires_grad:
        xp = x.index_select(-2, torch.as_tensor(rows, device=x.device))
        return sum(xp[..., k : k + factor * (n_out - 1) + 1 : factor, :] * wk for k, wk in taps)
    out = torch.empty(*x.shape[:-2], n_out, x.shape[-1], dtype=x.dtype, device=x.device)
    block = max(1, 2**17 // max(1, out[..., 0, :].numel()))
    span = len(kernel)
    start = _padded_start(x.shape[-2], factor)
    _fir_blocks(x, out, rows, taps, factor, start, span, block)
    return out


@contextlib.contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Run the enclosed torch CPU ops on one thread (restored afterwards).

    The FIR issues many small ops; splitting each across threads cost more in hand-offs than
    it gained (5-10x slower with 2 threads on 2 busy cores, measured with bench_resize.py).
    """
    n = torch.get_num_threads()
    if n > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n > 1:
            torch.set_num_threads(n)


def _fir_blocks(
    x: torch.Tensor, out: torch.Tensor, rows: np.ndarray, taps: list, factor: int, start: int, span: int, block: int
) -> None:
    """Accumulate ``out`` block by block (see ``_downscale_rows``)."""
    n_out = out.shape[-2]
    for r0 in range(0, n_out, block):
        r1 = min(r0 + block, n_out)
        lo, hi = start + factor * r0, start + factor * (r1 - 1) + span  # padded coordinates
        if lo >= 0 and hi <= x.shape[-2]:
            src = x[..., lo:hi, :]
        else:
            src = x.index_select(-2, torch.as_tensor(rows[lo - start : hi - start], device=x.device))
        acc = out[..., r0:r1, :]
        for j, (k, wk) in enumerate(taps):
            tap = src[..., k : k + factor * (r1 - r0 - 1) + 1 : factor, :]
            if j == 0:
                torch.mul(tap, wk, out=acc)
            else:
                acc.add_(tap, alpha=wk)


@functools.lru_cache(maxsize=64)
def _padded_start(in_len: int, factor: int) -> int:
    """0-based input index (possibly negative) of the first tap of the first output."""
    idx, _ = resize_taps(in_len, math.ceil(in_len / factor), 1.0 / factor, True)
    return int(idx[0, 0])


def _downscale_integer(x: torch.Tensor, factor: int) -> torch.Tensor | None:
    """Both axes of (..., H, W) by an integer factor; the W pass runs on the transposed image.

    (torch's ``interpolate(mode="bicubic", antialias=True)`` matches MATLAB away from the
    borders but truncates the kernel there, and measured slower than this on 2 CPU cores.)
    """
    y = _downscale_rows(x, factor)
    if y is None:
        return None
    z = _downscale_rows(y.transpose(-1, -2).contiguous(), factor)
    return None if z is None else z.transpose(-1, -2).contiguous()


def imresize(img: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """Resize the last two axes of ``img`` (..., H, W) by ``scale`` like MATLAB's bicubic imresize.

    Float input stays float (values may overshoot [0, 1] as in MATLAB); uint8 input is computed
    in float32 and rounded and clipped back to uint8. Integer downscale factors (1/2, 1/3, ...)
    with antialiasing run as a blocked, padded strided FIR per axis (the kernel is the same
    for every output sample; on CPU on one thread, see ``one_cpu_thread``); other scales use one
    matrix product per axis. Both give the same numbers as ``resize_matrix`` (tested against
    a float64 reference).
    """
    if scale <= 0:
        raise ValueError(f"imresize: scale must be positive, got {scale}")
    if img.ndim < 2:
        raise ValueError(f"imresize: expected an image with at least 2 axes (..., H, W), got shape {tuple(img.shape)}")
    factor = round(1 / scale)
    if not (antialias and scale < 1 and factor > 1 and abs(1 / scale - factor) < 1e-9):
        factor = 0  # not an integer downscale: matrix products
    with one_cpu_thread() if factor and img.device.type == "cpu" else contextlib.nullcontext():
        return _imresize(img, scale, antialias, factor)


def _imresize(img: torch.Tensor, scale: float, antialias: bool, factor: int) -> torch.Tensor:
    is_uint8 = img.dtype == torch.uint8
    x = img.float() if is_uint8 or not img.is_floating_point() else img
    h, w = x.shape[-2:]
    out = _downscale_integer(x, factor) if factor else None
    if out is None:
        out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
        mh = torch.from_numpy(resize_matrix(h, out_h, float(scale), antialias)).to(x.device, x.dtype)
        mw = torch.from_numpy(resize_matrix(w, out_w, float(scale), antialias)).to(x.device, x.dtype)
        out = mh @ x @ mw.T
    if is_uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    return out
