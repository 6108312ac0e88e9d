"""A trained run on one's own images (``srloss upscale``): the evaluation stage's inference on image files.

An image goes through exactly what a test image goes through in ``srloss.evaluation.measure``:
read as 8-bit RGB by the datasets' own reader (``srloss.data.images.read_rgb``: EXIF orientation,
16-bit and palette images converted, transparency refused), divided by 255, the run's model
whole or on tiles with its full receptive radius as overlap (``measure.super_resolve``), then
clamped and rounded to uint8 (``srloss.ops.to_uint8``). The weights are those the run's
evaluation used (``eval.json``: ``model.pt``, or ``model_best.pt`` under ``evaluation.weights:
best``), else ``model.pt``. tests/test_upscale.py checks the output equals the evaluation's, bit
for bit. (The few lines that turn uint8 into the model's input are repeated from ``measure``
rather than shared: editing ``measure.py`` reruns every evaluation of every study.)

A multi-frame model (``frames`` T > 1, e.g. ``unet_geu``) takes one folder per sample holding its
T frames, sorted by name, the middle one (index T//2) the frame super-resolved, as in the shards.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from srloss.atomic import atomic_path
from srloss.data.images import ImageError, read_rgb
from srloss.errors import UserError
from srloss.evaluation.measure import load_model, super_resolve
from srloss.gpu import resolve_device
from srloss.models import MODELS
from srloss.ops import to_uint8

log = logging.getLogger(__name__)

RUN_FOLDER = "results/<study>/runs/<dataset>/<model>/<loss>/x<scale>/seed<seed>"
FINAL_WEIGHTS = "model.pt"


@dataclass(frozen=True)
class TrainedRun:
    """A finished run's folder: its spec (run.json) and the weights file its evaluation used."""

    folder: Path
    spec: dict
    weights: Path

    @property
    def scale(self) -> int:
        return int(self.spec["scale"])

    @property
    def name(self) -> str:
        """``<dataset>-<model>-<loss>-seed<seed>``: unique within a study at one scale."""
        s = self.spec
        return f"{s['dataset']}-{s['model']}-{s['loss']}-seed{s['seed']}"


def _evaluated_weights(folder: Path) -> Path:
    """The weights the run's main evaluation read (eval.json's checkpoint, in this folder), else model.pt."""
    record = folder / "eval.json"
    if record.is_file():
        checkpoint = json.loads(record.read_text()).get("checkpoint")
        if checkpoint and (folder / Path(checkpoint).name).is_file():
            return folder / Path(checkpoint).name
    return folder / FINAL_WEIGHTS


def open_run(folder: str | Path) -> TrainedRun:
    """The trained run in ``folder``, refused by name when the folder, run.json or the weights are missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such run folder; give a trained run's folder, {RUN_FOLDER}")
    record = folder / "run.json"
    if not record.is_file():
        raise UserError(
            f"{record}: not found, so {folder} is not a trained run's folder ({RUN_FOLDER}); untrained "
            "baselines have none (srloss compare adds bicubic by itself)"
        )
    try:
        spec = json.loads(record.read_text())["spec"]
        trainable = MODELS[spec["arch"]].trainable
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(
            f"{record}: not a run record ({e!r}); the training job writes it: run snakemake again"
        ) from None
    if not trainable:
        raise UserError(f"{folder}: model {spec['model']!r} ({spec['arch']}) is not trained; give a trained run")
    weights = _evaluated_weights(folder)
    if not weights.is_file():
        raise UserError(
            f"{weights}: not found: the run has not finished training (`srloss status CONFIG` says where it "
            "stands; snakemake trains it)"
        )
    return TrainedRun(folder, spec, weights)


def load_run_model(run: TrainedRun, device: torch.device) -> torch.nn.Module:
    """The run's model with its weights, on ``device``, in eval mode (the evaluation stage's loader)."""
    try:
        model = load_model(run.spec, run.weights)
    except (RuntimeError, OSError, EOFError) as e:  # a damaged file, or weights of another model
        first = str(e).splitlines()[0][:200]
        raise UserError(
            f"{run.weights}: cannot load these weights into the model run.json describes ({first}); "
            "train the run again (snakemake --forcerun, docs/reliability.md)"
        ) from None
    return model.to(device)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as a C×H×W uint8 RGB array (the datasets' reader), refused by name when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such image file; give the path of an image (PNG, JPEG, TIFF, BMP, WebP)")
    try:
        return read_rgb(path).transpose(2, 0, 1).copy()
    except ImageError as e:
        if isinstance(e.__cause__, (OSError, SyntaxError)):  # not an image Pillow can decode
            raise UserError(f"{e}; give an image file (PNG, JPEG, TIFF, BMP, WebP)") from None
        raise


def read_frames(folder: Path, frames: int) -> np.ndarray:
    """The ``frames`` images of ``folder`` (sorted by name) as a T×C×H×W uint8 array, all of one size."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if len(files) != frames:
        raise UserError(
            f"{folder}: holds {len(files)} files, but the model takes {frames} frames per sample; give a folder "
            f"of exactly {frames} frames (sorted by name, the middle one, index {frames // 2}, is super-resolved)"
        )
    stack = [read_image(p) for p in files]
    for path, image in zip(files, stack):
        if image.shape != stack[0].shape:
            raise UserError(
                f"{path}: {image.shape[2]}x{image.shape[1]} px, but {files[0].name} is "
                f"{stack[0].shape[2]}x{stack[0].shape[1]} px; the frames of a sample must be of one size"
            )
    return np.stack(stack)


def read_input(path: str | Path, frames: int | None) -> np.ndarray:
    """A model's input from ``path``: an image file (C×H×W) for a single-image model (``frames``
    None), a folder of ``frames`` images (T×C×H×W) for a multi-frame one."""
    path = Path(path)
    if frames is None:
        if path.is_dir():
            raise UserError(
                f"{path}: a folder, but this model takes single images; give the image files (e.g. {path}/*.png)"
            )
        return read_image(path)
    if path.is_dir():
        return read_frames(path, frames)
    if frames == 1:
        return read_image(path)[None]
    raise UserError(
        f"{path}: the model is a multi-frame model ({frames} frames per sample); give a folder holding the "
        f"{frames} frames of one sample (sorted by name, the middle one, index {frames // 2}, is super-resolved)"
    )


@torch.no_grad()
def super_resolve_uint8(
    model: torch.nn.Module, lr: np.ndarray, scale: int, tile: int = 0, device: torch.device | str = "cpu"
) -> np.ndarray:
    """The model's uint8 C×H·s×W·s output for one uint8 input, computed as ``measure._measure`` does."""
    x = torch.from_numpy(np.stack([lr])).to(device).float().div(255)  # a batch of one, as measure stacks
    try:
        sr = to_uint8(super_resolve(model, x, scale, tile))
    except torch.OutOfMemoryError:
        raise UserError(
            f"the GPU ran out of memory on a {lr.shape[-1]}x{lr.shape[-2]} px input (tile {tile}): "
            "give --tile (e.g. 128) or --device cpu"
        ) from None
    return sr[0].cpu().numpy()


def write_png(image: np.ndarray, path: str | Path) -> None:
    """A C×H×W uint8 RGB array as a PNG file, written atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(tmp, format="PNG")


def output_path(out: Path, image: str | Path, run: TrainedRun) -> Path:
    """``<out>/<stem>_x<scale>_<run name>.png`` (a folder of frames: its name as the stem)."""
    image = Path(image)
    stem = image.name if image.is_dir() else image.stem
    return out / f"{stem}_x{run.scale}_{run.name}.png"


def upscale(
    run_folder: str | Path, images: list[str | Path], out: str | Path, device: str = "auto", tile: int = 0
) -> list[Path]:
    """Super-resolve every image (or frame folder) with the run's model; return the PNG files written."""
    run = open_run(run_folder)
    out = Path(out)
    targets = [output_path(out, image, run) for image in images]
    clashes = sorted({t.name for t in targets if targets.count(t) > 1})
    if clashes:
        raise UserError(f"inputs with the same name would write the same file ({', '.join(clashes)}); rename one")
    torch_device = resolve_device(device, "--device")
    model = load_run_model(run, torch_device)
    log.info("%s: %s, x%d, weights %s", run.folder, run.spec["arch"], run.scale, run.weights.name)
    out.mkdir(parents=True, exist_ok=True)
    for image, target in zip(images, targets):  # one at a time: any number of large images fits in memory
        write_png(super_resolve_uint8(model, read_input(image, model.frames), run.scale, tile, torch_device), target)
        log.info("written: %s", target)
    return targets
