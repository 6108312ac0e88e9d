"""The training loop: read top to bottom.

One run = one (dataset, model, loss, scale, seed). Batches are drawn from the training shard
with a seeded generator (random patches, random flips/rotations), the configured loss is a
weighted sum of terms, and the optimiser is Adam. Outputs: the final state dict, a per-step
history (total loss and every term, unweighted) and a JSON record of what produced them.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from srloss import provenance
from srloss.atomic import atomic_path, write_text
from srloss.data.shards import PatchDataset, read_images
from srloss.losses import build_loss
from srloss.metrics import crop_border, psnr, rgb_to_y, to_uint8
from srloss.models import build_model, count_parameters

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` means the first visible GPU if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def validate(model: torch.nn.Module, images: list, scale: int, device: torch.device) -> float:
    """Mean Y-channel PSNR (border = scale) over whole validation images."""
    model.eval()
    values = []
    for _, lr, hr in images:
        lr_t = torch.from_numpy(lr).float().div(255)[None].to(device)
        sr = to_uint8(model(lr_t)[0]).cpu()
        values.append(psnr(rgb_to_y(crop_border(sr, scale)), rgb_to_y(crop_border(torch.from_numpy(hr), scale))))
    model.train()
    return float(np.mean(values))


def train(spec: dict, train_shard: str | Path, val_shard: str | Path, model_out: str | Path, history_out: str | Path, record_out: str | Path, threads: int = 1) -> dict:
    """Train the run described by ``spec`` (see ``Study.run_spec``); return its record."""
    cfg = spec["training"]
    torch.set_num_threads(threads)
    seed_everything(spec["seed"])
    device = pick_device(cfg.get("device", "auto"))
    scale = spec["scale"]

    model = build_model(spec["arch"], scale, spec["model_options"]).to(device)
    loss_fn = build_loss(spec["terms"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]))
    data = PatchDataset(train_shard)
    val_images = read_images(val_shard)
    generator = torch.Generator().manual_seed(spec["seed"])
    log.info("%s: %d parameters, %d training patches, device %s", spec["arch"], count_parameters(model), len(data), device)

    history, status, start = [], "completed", time.time()
    model.train()
    for step in range(1, cfg["steps"] + 1):
        idx = torch.randint(len(data), (cfg["batch_size"],), generator=generator)
        codes = torch.randint(8, (cfg["batch_size"],), generator=generator)
        lr, hr = (t.to(device) for t in data.batch(idx.tolist(), codes.tolist()))
        sr = model(lr)
        total, terms = loss_fn(sr, hr, {"lr": lr})
        if not math.isfinite(float(total)):
            status = f"diverged at step {step}"
            log.warning("%s: loss is %s; stopping this run", status, float(total))
            break
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        row = {"step": step, "loss": float(total.detach()), **terms, "val_psnr_y": ""}
        if step % cfg["val_every"] == 0 or step == cfg["steps"]:
            row["val_psnr_y"] = validate(model, val_images, scale, device)
            log.info("step %d: loss %.5f, val PSNR-Y %.3f dB", step, row["loss"], row["val_psnr_y"])
        history.append(row)

    record = {
        "spec": spec,
        "status": status,
        "steps_done": len(history),
        "parameters": count_parameters(model),
        "seconds": round(time.time() - start, 3),
        "final_val_psnr_y": next((r["val_psnr_y"] for r in reversed(history) if r["val_psnr_y"] != ""), None),
        "provenance": provenance.collect(str(device)),
    }
    with atomic_path(model_out) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    with atomic_path(history_out) as tmp, open(tmp, "w", newline="") as f:
        fields = ["step", "loss", *loss_fn.labels, "val_psnr_y"]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
    write_text(record_out, json.dumps(record, indent=2, sort_keys=True))
    return record
