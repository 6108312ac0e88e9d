"""One image across runs (``srloss compare``): the same window of bicubic, every run and the ground truth.

Every panel is a window of a whole-image output, computed as ``srloss upscale`` computes it
(``upscale.super_resolve_uint8``, the evaluation stage's inference), so the window's pixels are
those of the written file; the bicubic panel is the study's baseline model (MATLAB-compatible
``imresize``). The window is given in input (LR) pixels, ``x,y,w,h``; by default it is the
``DEFAULT_SIDE`` px square with the most detail (``srloss.metrics.detail_crop``, as the study's
crop grids choose theirs). Panels are shown pixel for pixel, enlarged by one integer factor
(nearest neighbour, no smoothing) so the narrowest is at least ``MIN_PANEL`` px wide. Given the
HR image (the input × scale), each output is labelled with its PSNR-Y over the whole image, the
tables' ``psnr_y`` (BT.601 luma, ``scale`` px cropped from each border).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srloss.atomic import atomic_path
from srloss.errors import UserError
from srloss.evaluation.upscale import TrainedRun, load_run_model, open_run, read_image, read_input, super_resolve_uint8
from srloss.gpu import resolve_device
from srloss.metrics import METRICS, detail_crop
from srloss.models.base import build_model

DEFAULT_SIDE = 48  # LR px: the default window's side
MIN_PANEL = 192  # px: panels are enlarged by an integer factor to at least this width
GAP = 8  # px of white around and between panels
LINE = 16  # px per label line
LABEL_LINES = 3  # title (loss), the run, PSNR-Y
FONT_SIZE = 13
DISTORTION = "psnr_y"  # the label's measure: the tables' distortion column

Crop = tuple[int, int, int, int]  # x, y, w, h in input pixels


@dataclass(frozen=True)
class Panel:
    """One column of the grid: a label (up to ``LABEL_LINES`` lines) and a C×h×w uint8 window."""

    lines: tuple[str, ...]
    pixels: np.ndarray


def parse_crop(text: str) -> Crop:
    """``"x,y,w,h"`` (input pixels) as four integers, w and h positive."""
    parts = text.split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--crop {text!r}: expected four integers x,y,w,h (input pixels), e.g. 40,30,48,48") from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise ValueError(f"--crop {text!r}: x and y must be >= 0, w and h >= 1")
    return x, y, w, h


def check_crop(crop: Crop, width: int, height: int, image: str | Path) -> None:
    """The window must lie inside the ``width`` × ``height`` input."""
    x, y, w, h = crop
    if x + w > width or y + h > height:
        raise UserError(
            f"--crop {x},{y},{w},{h}: reaches ({x + w}, {y + h}), outside {image} ({width}x{height} px); "
            "give a window inside the input image (input pixels)"
        )


def default_crop(reference: np.ndarray, side: int = DEFAULT_SIDE) -> Crop:
    """The ``side`` px square of the C×H×W input with the most detail (the whole short side if smaller)."""
    top, left, side = detail_crop(torch.tensor(reference), side)
    return left, top, side, side


def layout(count: int, width: int, height: int) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """The grid's (width, height) and each panel's (left, top) for ``count`` panels of ``width`` × ``height`` px."""
    top = GAP + LABEL_LINES * LINE
    origins = [(GAP + i * (width + GAP), top) for i in range(count)]
    return (GAP + count * (width + GAP), top + height + GAP), origins


def zoom_factor(width: int) -> int:
    """The integer enlargement that makes a ``width`` px window at least ``MIN_PANEL`` px wide."""
    return max(1, math.ceil(MIN_PANEL / width))


def _fit(draw, text: str, font, width: int) -> str:
    """``text``, shortened with an ellipsis until it fits ``width`` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render(panels: list[Panel], zoom: int):
    """The grid as a PIL image: the panels side by side, each enlarged ``zoom`` times, labels above."""
    from PIL import Image, ImageDraw, ImageFont

    _, h, w = panels[0].pixels.shape
    size, origins = layout(len(panels), w * zoom, h * zoom)
    canvas = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_SIZE)
    for panel, (left, top) in zip(panels, origins):
        big = panel.pixels.repeat(zoom, axis=1).repeat(zoom, axis=2).transpose(1, 2, 0)
        canvas.paste(Image.fromarray(np.ascontiguousarray(big)), (left, top))
        for k, line in enumerate(panel.lines[:LABEL_LINES]):
            draw.text((left, GAP + k * LINE), _fit(draw, line, font, w * zoom), fill="black", font=font)
    return canvas


def _distortion(sr: np.ndarray, hr: np.ndarray | None, scale: int) -> str:
    """The label line with the whole image's PSNR-Y, or "" without the ground truth."""
    if hr is None:
        return ""
    metric = METRICS[DISTORTION]
    column = metric.column
    pair = (torch.from_numpy(np.stack([image])) for image in (sr, hr))
    value = metric("cpu").batch(*pair, scale)[DISTORTION][0]
    return f"{column.short} {value:{column.format}} {column.unit}"


def _window(image: np.ndarray, crop: Crop, scale: int) -> np.ndarray:
    x, y, w, h = (v * scale for v in crop)
    return image[:, y : y + h, x : x + w]


def run_label(run: TrainedRun) -> tuple[str, str]:
    """A run's panel title (its loss) and second line (model, dataset, seed)."""
    spec = run.spec
    return spec["loss"], f"{spec['model']}, {spec['dataset']}, seed {spec['seed']}"


def _one_scale(runs: list[TrainedRun]) -> int:
    scales = sorted({run.scale for run in runs})
    if len(scales) > 1:
        listed = ", ".join(f"{run.folder} (x{run.scale})" for run in runs)
        raise UserError(f"the runs differ in scale ({listed}); compare runs of one scale")
    return scales[0]


def _read_sample(image: Path, models: list[torch.nn.Module]) -> np.ndarray:
    """The input every model gets: an image, or the frame folder a multi-frame run takes (single-image
    models then super-resolve its reference frame, as in evaluation on multi-frame test sets)."""
    frames = sorted({m.frames for m in models if m.frames is not None})
    if len(frames) > 1:
        raise UserError(f"the runs take different numbers of frames ({frames}); compare runs of one kind")
    return read_input(image, frames[0] if frames else None)


def _read_hr(path: str | Path, width: int, height: int, scale: int) -> np.ndarray:
    hr = read_image(path)
    if hr.shape[1:] != (height * scale, width * scale):
        raise UserError(
            f"--hr {path}: {hr.shape[2]}x{hr.shape[1]} px, but the input is {width}x{height} px at x{scale}, so the "
            f"ground truth must be {width * scale}x{height * scale} px; give the HR image the input was made from"
        )
    return hr


def compare(
    image: str | Path,
    run_folders: list[str | Path],
    out: str | Path,
    crop: Crop | None = None,
    hr: str | Path | None = None,
    device: str = "auto",
    tile: int = 0,
) -> Path:
    """Write the crop grid of ``image`` across the runs (+ bicubic, + the ground truth ``hr``) to ``out`` (PNG)."""
    if Path(out).suffix.lower() != ".png":
        raise UserError(f"--out {out}: the grid is written as PNG; give a file name ending in .png")
    runs = [open_run(folder) for folder in run_folders]
    scale = _one_scale(runs)
    torch_device = resolve_device(device, "--device")
    models = [load_run_model(run, torch_device) for run in runs]
    lr = _read_sample(Path(image), models)
    reference = lr if lr.ndim == 3 else lr[lr.shape[0] // 2]
    height, width = reference.shape[1:]
    truth = None if hr is None else _read_hr(hr, width, height, scale)
    crop = crop or default_crop(reference)
    check_crop(crop, width, height, image)
    bicubic = build_model("bicubic", scale).to(torch_device)
    panels = []
    for lines, model in [(("bicubic", "baseline"), bicubic), *zip(map(run_label, runs), models)]:
        sr = super_resolve_uint8(model, lr, scale, tile, torch_device)
        panels.append(Panel((*lines, _distortion(sr, truth, scale)), _window(sr, crop, scale)))
    if truth is not None:
        panels.append(Panel(("ground truth", Path(hr).name), _window(truth, crop, scale)))
    grid = render(panels, zoom_factor(crop[2] * scale))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        grid.save(tmp, format="PNG")
    return Path(out)
