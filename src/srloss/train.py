"""The training loop: read top to bottom.

One run = one (dataset, model, loss, scale, seed). Batches are drawn from the training shard
with a seeded generator (random patches, random flips/rotations), the configured loss is a
weighted sum of terms, and the optimiser is Adam with a step-based learning-rate schedule.
A loss with an ``adversarial`` term also trains that term's discriminator, alternately: one
generator step (discriminator frozen), then ``training.discriminator.steps_per_g``
discriminator steps, with its own Adam settings.

Outputs: the last and the best (by validation PSNR-Y) state dicts, a per-step history (total
loss, every term unweighted, the discriminator's loss) and a JSON record of what produced
them. A NaN/Inf loss stops the run cleanly with status "diverged at step N" (the job still
succeeds, so the rest of the grid goes on; the status reaches the summary table).

Preemption: a resumable checkpoint (``srloss.checkpoint``) is written every
``training.checkpoint_every`` steps and when SIGTERM/SIGUSR1 arrives; the run then raises
``Preempted`` (the CLI exits 128 + signal number) and the next attempt resumes from it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from srloss import checkpoint, provenance
from srloss.atomic import atomic_path, write_text
from srloss.data.shards import PatchDataset, read_attrs, read_images
from srloss.losses import build_loss
from srloss.losses.adversarial import AdversarialLoss
from srloss.metrics import crop_border, psnr, rgb_to_y, to_uint8
from srloss.models import build_model, count_parameters
from srloss.schedules import lr_factor

log = logging.getLogger(__name__)


class Preempted(RuntimeError):
    """Training stopped on a preemption signal after saving its checkpoint."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by signal {signum} after step {step}; checkpoint saved")
        self.signum, self.step = signum, step
        self.exit_code = 128 + signum


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


@contextlib.contextmanager
def deterministic_mode(enabled: bool):
    """While active, torch uses deterministic kernels only (errors on ops that have none).

    cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG`` for that; the previous setting is restored on exit,
    so an in-process caller's global state is left as it was.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def total_steps(cfg: dict, n_patches: int) -> int:
    """``epochs`` x ``steps_per_epoch`` when epochs is set (one pass over the patches per epoch by default), else ``steps``."""
    if cfg.get("epochs") is None:
        return cfg["steps"]
    per_epoch = cfg.get("steps_per_epoch") or math.ceil(n_patches / cfg["batch_size"])
    return cfg["epochs"] * per_epoch


def find_adversarial(loss_fn: torch.nn.Module) -> AdversarialLoss | None:
    """The loss's adversarial term, if it has one (the config allows at most one)."""
    terms = [t for t in loss_fn.terms if isinstance(t, AdversarialLoss)]
    return terms[0] if terms else None


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@torch.no_grad()
def validate(model: torch.nn.Module, images: list, scale: int, device: torch.device) -> float:
    """Mean Y-channel PSNR (border = scale) over whole validation images."""
    model.eval()
    values = []
    for _, lr, hr in images:
        lr_t = torch.from_numpy(lr).float().div(255)[None].to(device)
        sr = to_uint8(model(lr_t)[0].float()).cpu()
        values.append(psnr(rgb_to_y(crop_border(sr, scale)), rgb_to_y(crop_border(torch.from_numpy(hr), scale))))
    model.train()
    return float(np.mean(values))


def train(spec: dict, train_shard: str | Path, val_shard: str | Path, model_out: str | Path, history_out: str | Path, record_out: str | Path,
          threads: int = 1, *, best_out: str | Path | None = None, checkpoint_path: str | Path | None = None,
          init_weights: str | Path | None = None) -> dict:
    """Train the run described by ``spec`` (see ``Study.run_spec``); return its record.

    ``checkpoint_path``: where the resumable state lives (resumed from if it belongs to this run).
    ``init_weights``: a generator state dict to start from (``losses.<name>.init_from``).
    """
    with deterministic_mode(spec["training"].get("deterministic", False)):
        return _train(spec, train_shard, val_shard, model_out, history_out, record_out, threads, best_out, checkpoint_path, init_weights)


def _train(spec: dict, train_shard, val_shard, model_out, history_out, record_out, threads: int, best_out, checkpoint_path, init_weights) -> dict:
    """``train``'s body, run inside ``deterministic_mode``."""
    cfg = spec["training"]
    torch.set_num_threads(threads)
    seed_everything(spec["seed"])
    device = pick_device(cfg.get("device", "auto"))
    cuda = device.type == "cuda"
    scale = spec["scale"]

    # generator, loss (an adversarial term owns the discriminator), optimisers
    model = build_model(spec["arch"], scale, spec["model_options"])
    init_status = None
    if init_weights is not None:
        model.load_state_dict(torch.load(init_weights, map_location="cpu", weights_only=True))
        init_record = Path(init_weights).with_name("run.json")
        init_status = json.loads(init_record.read_text())["status"] if init_record.exists() else "unknown"
        log.info("generator initialised from %s (that run: %s)", init_weights, init_status)
        if init_status != "completed":
            log.warning("the pre-training run %s did not complete (%s); this run starts from its last weights", init_weights, init_status)
    model.to(device)
    loss_fn = build_loss(spec["terms"]).to(device)
    adv = find_adversarial(loss_fn)
    channels_last = cuda and cfg.get("channels_last", True)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        if adv is not None:
            adv.discriminator.to(memory_format=torch.channels_last)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and cfg.get("precision", "bf16") == "bf16" else contextlib.nullcontext()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg.get("weight_decay", 0.0))
    d_cfg = cfg.get("discriminator", {})
    d_optimizer = None
    if adv is not None:
        d_optimizer = torch.optim.Adam(adv.discriminator.parameters(), lr=d_cfg.get("lr", 1e-4), betas=tuple(d_cfg.get("betas", (0.9, 0.999))),
                                       weight_decay=d_cfg.get("weight_decay", 0.0))

    # data: a seeded sampler draws (patch index, dihedral transform) pairs
    data = PatchDataset(train_shard, as_uint8=True)  # uint8 to the device (4x less to move), float there
    val_images = read_images(val_shard)
    sampler = torch.Generator().manual_seed(spec["seed"])
    n_steps = total_steps(cfg, len(data))

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(data), (cfg["batch_size"],), generator=sampler)
        codes = torch.randint(8, (cfg["batch_size"],), generator=sampler)
        lr, hr = (t.to(device, non_blocking=True).float().div_(255) for t in data.batch(idx.tolist(), codes.tolist()))
        if channels_last and lr.dim() == 4:
            lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
        return lr, hr

    # resume from this run's checkpoint, if an earlier attempt left one
    fp = checkpoint.fingerprint(spec, read_attrs(train_shard)["spec_hash"], file_sha256(init_weights) if init_weights else "")
    history: list[dict] = []
    best = {"psnr": -math.inf, "step": None, "state": None}
    start_step, seconds_before, resumed_from = 0, 0.0, []

    def state_now(step: int) -> dict:
        return {
            "fingerprint": fp, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "discriminator": adv.discriminator.state_dict() if adv else None, "d_optimizer": d_optimizer.state_dict() if d_optimizer else None,
            "history": history, "best": best, "rng": checkpoint.rng_state(sampler),
            "seconds": seconds_before + time.time() - start, "resumed_from": resumed_from,
        }

    saved = checkpoint.load(checkpoint_path, fp) if checkpoint_path else None
    if saved is not None and saved["step"] >= n_steps:
        saved = None  # a finished run's kept checkpoint: a rerun trains from scratch
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if adv is not None:
            adv.discriminator.load_state_dict(saved["discriminator"])
            d_optimizer.load_state_dict(saved["d_optimizer"])
        history, best = saved["history"], saved["best"]
        start_step, seconds_before = saved["step"], saved["seconds"]
        resumed_from = saved["resumed_from"] + [start_step]
        checkpoint.set_rng_state(saved["rng"], sampler)
        log.info("resumed from %s at step %d", checkpoint_path, start_step)
    log.info("pid %d; %s: %d parameters, %d training patches, %d steps, device %s%s", os.getpid(), spec["arch"], count_parameters(model), len(data), n_steps, device,
             f", discriminator {type(adv.discriminator).__name__} ({count_parameters(adv.discriminator)} parameters)" if adv else "")

    status, start = "completed", time.time()
    checkpoint_every = cfg.get("checkpoint_every", 0)
    model.train()
    with checkpoint.PreemptionSignals() as signals:
        for step in range(start_step + 1, n_steps + 1):
            if signals.received is not None:  # preempted: save where we are and stop
                if checkpoint_path:
                    checkpoint.save(checkpoint_path, state_now(step - 1))
                raise Preempted(signals.received, step - 1)

            factor = lr_factor(cfg.get("schedule", {"name": "none"}), step, n_steps)
            for group in optimizer.param_groups:
                group["lr"] = cfg["lr"] * factor

            # generator step
            lr, hr = next_batch()
            with autocast:
                sr = model(lr)
                total, terms = loss_fn(sr, hr, {"lr": lr})
            if not math.isfinite(float(total.detach())):
                status = f"diverged at step {step}"
                log.warning("%s: generator loss is %s; stopping this run", status, float(total.detach()))
                break
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            row = {"step": step, "loss": float(total.detach()), **terms}

            # discriminator step(s): the first on this batch's SR images, the others on fresh batches
            if adv is not None:
                for group in d_optimizer.param_groups:
                    group["lr"] = d_cfg.get("lr", 1e-4) * factor
                for k in range(d_cfg.get("steps_per_g", 1)):
                    if k > 0:
                        lr, hr = next_batch()
                        with torch.no_grad(), autocast:
                            sr = model(lr)
                    with autocast:
                        d_loss, d_parts = adv.discriminator_step(sr, hr)
                    if not math.isfinite(d_parts["d_loss"]):
                        break
                    d_optimizer.zero_grad(set_to_none=True)
                    d_loss.backward()
                    d_optimizer.step()
                    if adv.kind == "wgan":
                        adv.clip_weights(d_cfg.get("clip", 0.01))
                if not math.isfinite(d_parts["d_loss"]):
                    status = f"diverged at step {step}"
                    log.warning("%s: discriminator loss is %s; stopping this run", status, d_parts["d_loss"])
                    break
                row.update(d_parts)

            row["val_psnr_y"] = ""
            if step % cfg["val_every"] == 0 or step == n_steps:
                row["val_psnr_y"] = validate(model, val_images, scale, device)
                if row["val_psnr_y"] > best["psnr"]:
                    best = {"psnr": row["val_psnr_y"], "step": step, "state": checkpoint.cpu_state_dict(model)}
                log.info("step %d: loss %.5f, val PSNR-Y %.3f dB", step, row["loss"], row["val_psnr_y"])
            history.append(row)
            if checkpoint_path and checkpoint_every and step % checkpoint_every == 0 and step < n_steps:
                checkpoint.save(checkpoint_path, state_now(step))

    # outputs: last and best weights, history, record
    steps_done = history[-1]["step"] if history else start_step
    record = {
        "spec": spec,
        "status": status,
        "steps_done": steps_done,
        "steps_planned": n_steps,
        "parameters": count_parameters(model),
        "discriminator_parameters": count_parameters(adv.discriminator) if adv else None,
        "seconds": round(seconds_before + time.time() - start, 3),
        "resumed_from_steps": resumed_from,
        "final_val_psnr_y": next((r["val_psnr_y"] for r in reversed(history) if r["val_psnr_y"] != ""), None),
        "best_val_psnr_y": best["psnr"] if best["step"] is not None else None,
        "best_step": best["step"],
        "init_weights": {"path": str(init_weights), "sha256": file_sha256(init_weights), "status": init_status} if init_weights else None,
        "device": {"type": device.type, "bf16_autocast": not isinstance(autocast, contextlib.nullcontext), "channels_last": channels_last,
                   "deterministic": torch.are_deterministic_algorithms_enabled()},
        "provenance": provenance.collect(str(device)),
    }
    last_state = checkpoint.cpu_state_dict(model)
    with atomic_path(model_out) as tmp:
        torch.save(last_state, tmp)
    if best_out is not None:
        with atomic_path(best_out) as tmp:  # no validation yet (diverged early): the last weights
            torch.save(best["state"] if best["state"] is not None else last_state, tmp)
    with atomic_path(history_out) as tmp, open(tmp, "w", newline="") as f:
        fields = ["step", "loss", *loss_fn.labels, *(adv.log_columns if adv else []), "val_psnr_y"]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)
    write_text(record_out, json.dumps(record, indent=2, sort_keys=True))
    if checkpoint_path and Path(checkpoint_path).exists() and not cfg.get("keep_checkpoint", False):
        Path(checkpoint_path).unlink()
    elif checkpoint_path and cfg.get("keep_checkpoint", False) and status == "completed":
        checkpoint.save(checkpoint_path, state_now(steps_done))  # the final state, for fine-tuning; never resumed
    return record
