"""Evaluate one run on the test shard: one row of metrics per test image, plus fixed crops.

Which metrics are computed is set by the study's ``evaluation`` config (``Study.evaluation_spec``).
A metric that cannot be computed here (LPIPS without cached backbone weights, FFR without dlib)
is written as NaN with the reason in the ``missing`` column (JSON: {metric: reason}) and in ``eval.json``: the run is
still evaluated, and nothing is silently replaced.
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
from srloss.metrics import (
    LPIPS,
    FaceVerifier,
    MetricUnavailable,
    crop_border,
    detail_crop,
    image_metrics,
    rgb_to_y,
    sharpness_difference,
    sharpness_split,
    to_uint8,
)
from srloss.models import MODELS
from srloss.models.base import build_model
from srloss.ops.tiling import tiled_forward

log = logging.getLogger(__name__)

# Columns of every metrics table, identifying the run and the image.
ID_COLUMNS = ["study", "dataset", "test_set", "model", "loss", "scale", "seed", "image"]
FFR_COLUMNS = ["gt_face", "ffr", "ffr_no_face", "ffr_mismatch", "face_distance"]

# What `evaluation` means when a caller passes none (the schema's defaults, FFR off).
DEFAULT_EVALUATION = {
    "metrics": ["psnr_rgb", "psnr_y", "ssim_y", "mse", "sharpness_diff", "sharpness_lost", "sharpness_added", "lpips"],
    "lpips": {"nets": ["alex", "vgg"], "random_backbone": False},
    "ffr": {"enabled": False, "threshold": 0.6, "min_detection_score": 0.5},
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
    """The configured metrics, built once per job; ``missing`` maps metric -> reason it is absent."""

    def __init__(self, evaluation: dict, device: torch.device):
        self.names = list(evaluation["metrics"])
        self.device = device
        self.missing: dict[str, str] = {}
        self.lpips: list[LPIPS] = []
        if "lpips" in self.names:
            for net in evaluation["lpips"]["nets"]:
                try:
                    self.lpips.append(LPIPS(net, device, random_backbone=evaluation["lpips"]["random_backbone"]))
                except MetricUnavailable as e:
                    self.missing[f"lpips_{net}"] = str(e)
                    log.warning("%s", e)
        self.faces: FaceVerifier | None = None
        ffr = evaluation["ffr"]
        if ffr["enabled"]:
            try:
                self.faces = FaceVerifier(ffr["threshold"], ffr["min_detection_score"])
            except MetricUnavailable as e:
                self.missing["ffr"] = str(e)
                log.warning("%s", e)

    def _sharpness(self, sr_y: torch.Tensor, hr_y: torch.Tensor) -> dict[str, float]:
        """The configured sharpness columns: the signed difference and its two non-cancelling parts."""
        row = {}
        if "sharpness_diff" in self.names:
            row["sharpness_diff"] = sharpness_difference(sr_y, hr_y)
        if "sharpness_lost" in self.names or "sharpness_added" in self.names:
            lost, added = sharpness_split(sr_y, hr_y)
            row.update({k: v for k, v in [("sharpness_lost", lost), ("sharpness_added", added)] if k in self.names})
        return row

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
        """All configured metrics for one uint8-valued CHW RGB pair (missing ones as NaN)."""
        return self.batch(sr[None], hr[None], scale)[0]

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> list[dict[str, float]]:
        """Metrics for a batch of same-size uint8-valued NCHW pairs; LPIPS runs on the whole batch."""
        sr_c, hr_c = crop_border(sr, scale), crop_border(hr, scale)
        lpips_values = {metric.name: metric(sr_c, hr_c).tolist() for metric in self.lpips}
        rows = []
        for i in range(sr.shape[0]):
            base = image_metrics(sr[i], hr[i], scale)
            row = {k: v for k, v in base.items() if k in self.names}
            row.update(self._sharpness(rgb_to_y(sr_c[i]), rgb_to_y(hr_c[i])))
            for name, values in lpips_values.items():
                row[name] = values[i]
            if self.faces is not None:  # on whole images (the face may touch the border), on the CPU
                row.update(self.faces.compare(sr[i].cpu(), hr[i].cpu()))
            for name in self.missing:
                for column in FFR_COLUMNS if name == "ffr" else [name]:
                    row[column] = float("nan")
            rows.append(row)
        return rows


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
    rows, crops = _measure(model, metric_set, read_images(test_shard), spec, evaluation, device)
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
        "provenance": provenance.collect(str(device)),
    }
    write_text(record_out, json.dumps(record, indent=2, sort_keys=True))
    return table
