"""Evaluate one run on the test shard: one row of metrics per test image."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from srloss import provenance
from srloss.atomic import atomic_path, write_text
from srloss.data.shards import read_images
from srloss.metrics import image_metrics, to_uint8
from srloss.models import MODELS, build_model

# Columns of every metrics table, identifying the run and the image.
ID_COLUMNS = ["study", "dataset", "model", "loss", "scale", "seed", "image"]


def load_model(spec: dict, checkpoint: str | Path | None) -> torch.nn.Module:
    """Build the run's model and load its trained weights (safe loader: tensors only)."""
    model = build_model(spec["arch"], spec["scale"], spec["model_options"])
    if MODELS[spec["arch"]].trainable:
        if checkpoint is None:
            raise ValueError(f"model {spec['model']!r} is trained but no checkpoint was given")
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def evaluate(spec: dict, checkpoint: str | Path | None, test_shard: str | Path, metrics_out: str | Path, record_out: str | Path, threads: int = 1) -> pd.DataFrame:
    """Run the model over every test image and write per-image metrics (CSV) and a record (JSON)."""
    torch.set_num_threads(threads)
    model = load_model(spec, checkpoint)
    status = "baseline"
    if checkpoint is not None:
        record_path = Path(checkpoint).with_name("run.json")
        status = json.loads(record_path.read_text())["status"] if record_path.exists() else "unknown"
    rows = []
    for name, lr, hr in read_images(test_shard):
        sr = to_uint8(model(torch.from_numpy(lr).float().div(255)[None])[0])
        metrics = image_metrics(sr, torch.from_numpy(hr), spec["scale"])
        rows.append({**{k: spec[k] for k in ID_COLUMNS if k != "image"}, "image": name, "status": status, **metrics})
    table = pd.DataFrame(rows)
    with atomic_path(metrics_out) as tmp:
        table.to_csv(tmp, index=False)
    write_text(record_out, json.dumps({"spec": spec, "checkpoint": str(checkpoint) if checkpoint else None, "provenance": provenance.collect("cpu")}, indent=2, sort_keys=True))
    return table
