"""What a finished (or stopped) run leaves in its folder, each file written atomically.

* ``model.pt``: the last weights (a diverged run: the last weights known to be finite);
* ``model_best.pt``: the weights with the best validation PSNR-Y (the last weights if no
  validation happened);
* ``history.csv``: a row before training (step 0: validation PSNR-Y), one per logging window
  (each column's mean over the window) and one per validation (``val_psnr_y``), merged when
  they fall on the same step;
* ``run.json``: the run record: ``status`` (its first word is the health class, see
  ``srloss.health``), ``health`` (class, sentence, the numbers behind it), steps, timing,
  device (``device.gpu``: the GPU the job got, see ``srloss.gpu.job_gpu``), provenance;
* ``checkpoint.pt``: removed, or rewritten with the final state (``keep_checkpoint``);
* ``progress.json``: the heartbeat (``srloss.training.progress``), rewritten at each logging
  window while the run trains and removed when it finishes; one left behind belongs to an attempt
  that stopped (``srloss status`` reads it). Like ``checkpoint.pt``, never a Snakemake output.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from srloss import provenance
from srloss.atomic import atomic_path, write_text
from srloss.gpu import job_gpu
from srloss.health import Health
from srloss.models.base import count_parameters
from srloss.training import checkpoint
from srloss.training.progress import HEARTBEAT
from srloss.training.settings import ExecutionConfig, TrainingConfig
from srloss.training.setup import Networks
from srloss.training.state import RunState


@dataclass(frozen=True)
class RunPaths:
    """Where a run's files go; ``best`` and ``checkpoint`` are optional."""

    model: Path
    history: Path
    record: Path
    best: Path | None = None
    checkpoint: Path | None = None

    @property
    def tensorboard(self) -> Path:
        return self.model.parent / "tensorboard"

    @property
    def heartbeat(self) -> Path:
        return self.model.parent / HEARTBEAT


def write_weights(paths: RunPaths, net: Networks, state: RunState) -> None:
    last = checkpoint.cpu_state_dict(net.model)
    checkpoint.save_tensors(last, paths.model)
    if paths.best is not None:
        checkpoint.save_tensors(state.best["state"] if state.best["state"] is not None else last, paths.best)


def write_history(path: Path, columns: list[str], rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", *columns, "val_psnr_y"], restval="")
        writer.writeheader()
        writer.writerows(rows)


def run_record(
    spec: dict,
    cfg: TrainingConfig,
    exe: ExecutionConfig,
    net: Networks,
    state: RunState,
    health: Health,
    n_steps: int,
    device: torch.device,
    init: dict | None,
) -> dict:
    """run.json's content."""
    validated = [r["val_psnr_y"] for r in state.history if r.get("val_psnr_y") not in ("", None) and r["step"] > 0]
    return {
        "spec": spec,
        "status": health.status,
        "health": health.as_record(),
        "steps_done": state.steps_done,
        "steps_planned": n_steps,
        "parameters": count_parameters(net.model),
        "discriminator_parameters": count_parameters(net.adv.discriminator) if net.adv else None,
        "seconds": round(state.seconds, 3),
        "resumed_from_steps": state.resumed_from,
        "initial_val_psnr_y": state.initial["val_psnr_y"],
        "final_val_psnr_y": validated[-1] if validated else None,
        "best_val_psnr_y": state.best["psnr"] if state.best["step"] is not None else None,
        "best_step": state.best["step"],
        "init_weights": init,
        "execution": asdict(exe),
        "device": {
            "type": device.type,
            "bf16_autocast": device.type == "cuda" and cfg.precision == "bf16",
            "channels_last": net.channels_last,
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "compile": {"requested": cfg.compile, "used": net.compiled},
            "gpu": job_gpu(device),  # CUDA_VISIBLE_DEVICES, the GPU's name, the SLURM job id
        },
        "provenance": provenance.collect(str(device)),
    }


def tidy_checkpoint(paths: RunPaths, exe: ExecutionConfig, finished: bool, save_final) -> None:
    """Remove checkpoint.pt, or with ``keep_checkpoint`` rewrite it with a finished run's final state
    (for fine-tuning: a rerun never resumes from a finished run's checkpoint)."""
    if paths.checkpoint is None:
        return
    if not exe.keep_checkpoint:
        paths.checkpoint.unlink(missing_ok=True)
    elif finished:
        save_final()


def write_outputs(paths: RunPaths, net: Networks, state: RunState, record: dict) -> None:
    write_weights(paths, net, state)
    write_history(paths.history, net.columns, state.history)
    write_text(paths.record, json.dumps(record, indent=2, sort_keys=True))
