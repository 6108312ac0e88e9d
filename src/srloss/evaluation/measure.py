"""Evaluate one run on the test shard: one row of metrics per test image, plus fixed crops.

Which metrics are computed is set by the study's ``evaluation`` config (``Study.evaluation_spec``);
the metrics themselves are the members of ``srloss.metrics.METRICS``. A metric that cannot be
computed here (LPIPS without cached backbone weights, FFR without dlib) is written as NaN with the
reason in the ``missing`` column (JSON: {metric or column: reason}) and in ``eval.json``: the run
is still evaluated, and nothing is silently replaced.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from srloss import provenance
from srloss.atomic import atomic_path, write_text
from srloss.data.manifest import checked_shard
from srloss.data.shards import read_images
from srloss.errors import UserError
from srloss.gpu import job_gpu
from srloss.metrics import (
    Metric,
    MetricUnavailable,
    check_pair,
    default_metrics,
    default_sections,
    detail_crop,
    selected_metrics,
)
from srloss.models import MODELS
from srloss.models.base import build_model
from srloss.ops import to_uint8
from srloss.ops.tiling import tiled_forward

log = logging.getLogger(__name__)

# Columns of every metrics table, identifying the run and the image.
ID_COLUMNS = ["study", "dataset", "test_set", "model", "loss", "scale", "seed", "image"]

# What `evaluation` means when a caller passes none: the metrics on by default, each metric's
# options at their defaults (FFR off: it lists no dataset), and the schema's execution defaults.
DEFAULT_EVALUATION = {
    "metrics": default_metrics(),
    **default_sections(),
    "crops": {"images": 3, "size": 96},
    "device": "auto",
    "batch_size": 8,
    "tile": 0,
    "max_batch_pixels": 0,
}


def load_model(spec: dict, checkpoint: str | Path | None) -> torch.nn.Module:
    """Build the run's model and load its trained weights (safe loader: tensors only)."""
    model = build_model(spec["arch"], spec["scale"], spec["model_options"])
    if MODELS[spec["arch"]].trainable:
        if checkpoint is None:
            raise ValueError(f"model {spec['model']!r} is trained but no checkpoint was given")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    return model.eval()


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: the first visible GPU if there is one, else the CPU."""
    from srloss.gpu import resolve_device

    return resolve_device(name, "evaluation.device")  # 'cuda' with no GPU visible: one clear line, not a CUDA traceback


class MetricSet:
    """The metrics an evaluation spec selects (``srloss.metrics.selected_metrics``), built once per
    job. ``columns``: every column they write, in display order; ``missing``: what cannot be
    computed here -> the reason (a metric's name when it is missing as a whole, a column's name
    when only that part is); missing columns are NaN in every row."""

    def __init__(self, evaluation: dict, device: torch.device):
        self.metrics: list[Metric] = []
        self.columns: list[str] = []
        self.missing: dict[str, str] = {}
        self.absent: set[str] = set()  # the missing columns
        for kind in selected_metrics(evaluation):
            options = kind.configured(evaluation)
            columns = [column.name for column in kind.columns(**options)]
            self.columns += columns
            try:
                metric = kind(device, **options)
            except MetricUnavailable as e:
                self.missing[kind.name] = str(e)
                self.absent.update(columns)
                continue
            self.metrics.append(metric)
            self.missing.update(metric.missing)
            self.absent.update(metric.missing)
        for reason in self.missing.values():
            log.warning("%s", reason)

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
        """All configured metrics for one uint8-valued CHW RGB pair (missing ones as NaN)."""
        return self.batch(sr[None], hr[None], scale)[0]

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> list[dict[str, float]]:
        """One row per image of a batch of same-size uint8-valued NCHW pairs, the columns in display order."""
        check_pair(sr, hr)
        values: dict[str, list[float]] = {}
        for metric in self.metrics:
            values.update(metric.batch(sr, hr, scale))
        nan = [float("nan")] * sr.shape[0]
        return [
            {column: (nan if column in self.absent else values[column])[i] for column in self.columns}
            for i in range(sr.shape[0])
        ]


def same_size_batches(images: list[tuple[str, np.ndarray, np.ndarray]], batch_size: int, max_pixels: int = 0):
    """Consecutive runs of at most ``batch_size`` images whose LR and HR shapes agree and, when
    ``max_pixels`` > 0, whose HR pixels together stay within it (one image always passes)."""
    batch: list = []
    for item in images:
        full = len(batch) == batch_size or (max_pixels and (len(batch) + 1) * item[2][0].size > max_pixels)
        if batch and (full or item[1].shape != batch[0][1].shape or item[2].shape != batch[0][2].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def super_resolve(model: torch.nn.Module, lr: torch.Tensor, scale: int, tile: int) -> torch.Tensor:
    """The model's output on ``lr``: whole, or (``tile`` > 0) on LR tiles with the model's full
    receptive radius as overlap, which equals whole-image inference (``srloss.ops.tiling``)."""
    return tiled_forward(model, lr, scale, tile) if tile else model(lr)


def run_status(checkpoint: str | Path | None) -> str:
    """The run's health (run.json beside the weights; a step's weights sit one folder deeper)."""
    if checkpoint is None:
        return "baseline"
    for folder in Path(checkpoint).parents[:2]:
        if (folder / "run.json").exists():
            return json.loads((folder / "run.json").read_text())["status"]
    return "unknown"


def _keep_crop(crops: dict, name: str, sr: torch.Tensor, hr: torch.Tensor, size: int) -> None:
    top, left, side = detail_crop(hr, size)
    crops[f"sr__{name}"] = sr[:, top : top + side, left : left + side].cpu().numpy()
    crops[f"hr__{name}"] = hr[:, top : top + side, left : left + side].cpu().numpy()
    crops[f"box__{name}"] = np.array([top, left, side])


def _measure(model, metric_set: MetricSet, images: list, spec: dict, evaluation: dict, device) -> tuple[list, dict]:
    """Per-image metric rows (without the run's columns) and the fixed crops of the first images."""
    rows, crops = [], {}
    crop_names = {name for name, _, _ in images[: evaluation["crops"]["images"]]}
    batches = same_size_batches(images, evaluation.get("batch_size", 8), evaluation.get("max_batch_pixels", 0))
    for batch in batches:
        lr = torch.from_numpy(np.stack([lr for _, lr, _ in batch])).to(device).float().div(255)
        hr = torch.from_numpy(np.stack([hr for _, _, hr in batch])).to(device)
        sr = to_uint8(super_resolve(model, lr, spec["scale"], evaluation.get("tile", 0)))
        for (name, _, _), sr_i, hr_i, metrics in zip(batch, sr, hr, metric_set.batch(sr, hr, spec["scale"])):
            rows.append({"image": name, **metrics})
            if name in crop_names:
                _keep_crop(crops, name, sr_i, hr_i, evaluation["crops"]["size"])
    return rows, crops


@torch.no_grad()
def evaluate(
    spec: dict,
    checkpoint: str | Path | None,
    test_shard: str | Path,
    metrics_out: str | Path,
    record_out: str | Path,
    threads: int = 1,
    evaluation: dict | None = None,
    crops_out: str | Path | None = None,
) -> pd.DataFrame:
    """Run the model over every test image; write per-image metrics (CSV), a record (JSON) and,
    if ``crops_out`` is given, the fixed crops of the first test images (NPZ) for comparison grids.

    The run's ``status`` (from run.json beside the checkpoint, e.g. "diverged at step N") is
    copied into every row; untrained baselines have status "baseline".
    """
    evaluation = evaluation or DEFAULT_EVALUATION
    checked_shard(test_shard)  # a damaged shard stops here, before any output is touched
    torch.set_num_threads(threads)
    device = pick_device(evaluation.get("device", "auto"))
    model = load_model(spec, checkpoint).to(device)
    metric_set = MetricSet(evaluation, device)
    status = run_status(checkpoint)
    missing_note = json.dumps(metric_set.missing, sort_keys=True) if metric_set.missing else ""  # {metric: reason}
    try:
        rows, crops = _measure(model, metric_set, read_images(test_shard), spec, evaluation, device)
    except torch.OutOfMemoryError as e:  # not worth retrying: the same settings run out again
        raise UserError(
            f"evaluation: the GPU ran out of memory on {test_shard} (batch_size {evaluation.get('batch_size')}, "
            f"tile {evaluation.get('tile')}): set evaluation.tile (e.g. 128) or a smaller evaluation.batch_size or "
            f"max_batch_pixels ({str(e).splitlines()[0][:160]})"
        ) from None
    # the run's columns; test_set: the dataset whose test split this is (another dataset than the
    # training one under test_on, cross-dataset evaluation)
    ids = {**spec, "test_set": evaluation.get("test_set", spec["dataset"])}
    run_columns = {k: ids[k] for k in ID_COLUMNS if k != "image"}
    table = pd.DataFrame(
        [{**run_columns, "image": r.pop("image"), "status": status, **r, "missing": missing_note} for r in rows]
    )
    with atomic_path(metrics_out) as tmp:
        table.to_csv(tmp, index=False)
    if crops_out is not None:
        with atomic_path(crops_out) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **crops)
    record = {
        "spec": spec,
        "evaluation": evaluation,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "status": status,
        "missing": metric_set.missing,
        "gpu": job_gpu(device),  # CUDA_VISIBLE_DEVICES, the GPU's name, the SLURM job id
        "provenance": provenance.collect(str(device)),
    }
    write_text(record_out, json.dumps(record, indent=2, sort_keys=True))
    return table
