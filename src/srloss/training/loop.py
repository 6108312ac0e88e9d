"""The training loop: read ``_loop`` top to bottom.

One run = one (dataset, model, loss, scale, seed): random patches of the training shard, a loss
that is a weighted sum of terms, Adam with a step-based learning-rate schedule. A loss with an
``adversarial`` term also trains that term's discriminator, alternately with the generator.
The parts live in ``srloss.training`` (settings, setup, steps, logging window, state, outputs).

No step synchronises host and device: loss values stay on the device and are read once per
logging window (``training.log_every``) and at each validation. A NaN/Inf loss is caught at the
end of its window with the step it first appeared at; the run stops with status "diverged at
step N" and keeps the last finite weights (the job still succeeds, so the rest of the grid goes
on). At the end, ``srloss.health`` classifies the run (completed, diverged, runaway, stalled,
untrained) from its history and a validation before the first step.

Preemption: a resumable checkpoint (``srloss.training.checkpoint``) is written every
``training.checkpoint_every`` steps and when SIGTERM/SIGUSR1 arrives; the run then raises
``Preempted`` (the CLI exits 128 + signal number) and the next attempt resumes from it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from srloss.data.manifest import checked_shard
from srloss.data.shards import read_attrs, read_images
from srloss.errors import UserError
from srloss.health import classify
from srloss.models.base import count_parameters
from srloss.training import checkpoint
from srloss.training import step_weights as budget
from srloss.training.meter import WindowMeter
from srloss.training.progress import Heartbeat, Progress
from srloss.training.run_files import RunPaths, run_record, tidy_checkpoint, write_outputs
from srloss.training.settings import EXECUTION_KEYS, ExecutionConfig, TrainingConfig
from srloss.training.setup import (
    Batches,
    Networks,
    build_networks,
    compile_generator,
    deterministic_mode,
    file_sha256,
    load_init_weights,
    pick_device,
    seed_everything,
    total_steps,
    weights_sha256,
)
from srloss.training.state import RunState
from srloss.training.steps import discriminator_steps, generator_step, set_learning_rates, validate

__all__ = ["Preempted", "seed_everything", "total_steps", "train"]

log = logging.getLogger(__name__)


class Preempted(RuntimeError):
    """Training stopped on a preemption signal after saving its checkpoint."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by signal {signum} after step {step}; checkpoint saved")
        self.signum, self.step = signum, step
        self.exit_code = 128 + signum


@dataclass
class Run:
    """One run's settings, networks and data, and when each of its periodic events falls."""

    spec: dict
    cfg: TrainingConfig
    exe: ExecutionConfig
    device: torch.device
    net: Networks
    batches: Batches
    val_images: list
    n_steps: int
    fingerprint: str
    step_dir: Path | None = None  # where the weights of ``spec["save_steps"]`` go (srloss.training.step_weights)

    def window_ends(self, step: int) -> bool:
        """A log point, a validation or a saved step: the logged values are read (one sync), so
        weights are saved only after their window proved finite."""
        return step % self.exe.log_every == 0 or self.validates(step) or self.saves(step)

    def saves(self, step: int) -> bool:
        return self.step_dir is not None and step in self.spec.get("save_steps", ())

    def save_step(self, step: int) -> None:
        budget.save_step(self.step_dir, self.net.model, step)

    def validates(self, step: int) -> bool:
        return step % self.cfg.val_every == 0 or step == self.n_steps

    def checkpoints(self, step: int) -> bool:
        every = self.exe.checkpoint_every
        return bool(every) and step % every == 0 and step < self.n_steps

    def validate(self) -> float:
        return validate(self.net.model, self.val_images, self.spec["scale"], self.device)


def train(
    spec: dict,
    train_shard: str | Path,
    val_shard: str | Path,
    model_out: str | Path,
    history_out: str | Path,
    record_out: str | Path,
    *,
    best_out: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    init_weights: str | Path | None = None,
    execution: dict | ExecutionConfig | None = None,
) -> dict:
    """Train the run described by ``spec`` (see ``Study.run_spec``); return its record (run.json).

    ``execution``: threads, device, checkpoint and logging cadence (``ExecutionConfig``; missing
    keys take the schema defaults). ``checkpoint_path``: where the resumable state lives (resumed
    from if it belongs to this run). ``init_weights``: a generator state dict to start from.
    """
    misplaced = sorted(set(spec["training"]) & set(EXECUTION_KEYS))
    if misplaced:
        raise ValueError(
            f"run spec: training.{', training.'.join(misplaced)} are execution settings; "
            "pass them as execution (srloss train --execution), not in the spec"
        )
    cfg = TrainingConfig.from_dict(spec["training"])
    exe = execution if isinstance(execution, ExecutionConfig) else ExecutionConfig.from_dict(execution)
    paths = RunPaths(
        Path(model_out),
        Path(history_out),
        Path(record_out),
        best_out and Path(best_out),
        checkpoint_path and Path(checkpoint_path),
    )
    with deterministic_mode(cfg.deterministic):
        return _train(spec, cfg, exe, Path(train_shard), Path(val_shard), paths, init_weights)


def prepare(
    spec: dict,
    cfg: TrainingConfig,
    exe: ExecutionConfig,
    train_shard: Path,
    val_shard: Path,
    init_weights: str | Path | None,
) -> tuple[Run, dict | None]:
    """Seeds, device, networks (optionally from ``init_weights``, optionally compiled) and data."""
    torch.set_num_threads(exe.threads)
    seed_everything(spec["seed"])
    device = pick_device(exe.device)
    for shard in (train_shard, val_shard):
        checked_shard(shard)  # a damaged shard stops the run here, before any output is touched
    net = build_networks(spec, cfg, device)
    init = None
    if init_weights is not None:
        status = load_init_weights(net.model, init_weights)
        init = {"path": str(init_weights), "sha256": file_sha256(init_weights), "status": status}
    if cfg.compile:
        compile_generator(net, device)
    batches = Batches(train_shard, cfg.batch_size, spec["seed"], device, net.channels_last)
    fingerprint = checkpoint.fingerprint(spec, read_attrs(train_shard)["spec_hash"], init["sha256"] if init else "")
    run = Run(spec, cfg, exe, device, net, batches, read_images(val_shard), total_steps(cfg, len(batches)), fingerprint)
    return run, init


def describe(run: Run) -> str:
    """What is about to train, for the log."""
    net = run.net
    text = (
        f"{run.spec['arch']}: {count_parameters(net.model)} parameters, {len(run.batches)} training patches, "
        f"{run.n_steps} steps, device {run.device}{', compiled' if net.compiled else ''}"
    )
    if net.adv is not None:
        d = net.adv.discriminator
        text += f", discriminator {type(d).__name__} ({count_parameters(d)} parameters)"
    return text


def _train(
    spec: dict,
    cfg: TrainingConfig,
    exe: ExecutionConfig,
    train_shard: Path,
    val_shard: Path,
    paths: RunPaths,
    init_weights: str | Path | None,
) -> dict:
    """``train``'s body, run inside ``deterministic_mode``."""
    run, init = prepare(spec, cfg, exe, train_shard, val_shard, init_weights)
    net = run.net
    d_steps = net.adv.critic_steps(cfg.discriminator.steps_per_g) if net.adv is not None else 0
    meter = WindowMeter(net.g_columns, net.d_columns, d_steps, exe.log_every, run.device)
    state = RunState.resume_or_start(paths.checkpoint, run.fingerprint, meter, net, run.batches, run.n_steps)
    heartbeat = Heartbeat(paths.heartbeat, run.n_steps, state.steps_done, exe.log_every, str(run.device))
    progress = Progress(run.n_steps, state.steps_done, paths.tensorboard if exe.tensorboard else None, heartbeat)
    log.info("pid %d; %s", os.getpid(), describe(run))
    if spec.get("save_steps"):
        budget.check_steps(spec["save_steps"], run.n_steps)
        run.step_dir = paths.model.parent / budget.PENDING
    if not state.history:  # a fresh run: the validation PSNR-Y before training, for run health
        if run.step_dir is not None:
            budget.clear(run.step_dir)  # an earlier attempt's step weights belong to another run
        state.begin(net, run.validate())
        progress.log_initial(state.initial["val_psnr_y"])
    try:
        _loop(run, state, progress, paths.checkpoint)
    except torch.OutOfMemoryError as e:  # not worth retrying: the same settings run out again
        raise UserError(
            f"training: the GPU ran out of memory at step {state.steps_done + 1} (batch_size {cfg.batch_size}, "
            f"model {spec['arch']}): lower training.batch_size or the dataset's patch_size, or run on a larger "
            f"GPU ({str(e).splitlines()[0][:160]})"
        ) from None
    finally:
        progress.close()
    changed = weights_sha256(net.model) != state.initial["weights_sha256"]
    health = classify(state.history, state.initial["val_psnr_y"], changed, state.diverged_at, state.initial["loss"])
    record = run_record(spec, cfg, exe, net, state, health, run.n_steps, run.device, init)
    if run.step_dir is not None:
        record["saved_steps"] = budget.weights_steps(spec["save_steps"], state.steps_done)
    write_outputs(paths, net, state, record)
    if run.step_dir is not None:
        budget.publish(
            run.step_dir, paths.model.parent / budget.PUBLISHED, spec["save_steps"], state.steps_done, net.model
        )
    tidy_checkpoint(
        paths, exe, state.diverged_at is None, lambda: state.save(paths.checkpoint, net, run.batches, state.steps_done)
    )
    if run.step_dir is not None:
        budget.clear(run.step_dir)
    heartbeat.remove()
    log.info("run finished: %s (%s)", health.status, health.detail)
    return record


def _loop(run: Run, state: RunState, progress: Progress, checkpoint_path: Path | None) -> None:
    """The steps from where ``state`` stands to the end (or to a divergence, or a preemption)."""
    net, cfg = run.net, run.cfg
    with checkpoint.PreemptionSignals() as signals:
        for step in range(state.steps_done + 1, run.n_steps + 1):
            if signals.received is not None:  # preempted: save where we are and stop
                state.save(checkpoint_path, net, run.batches, step - 1)
                raise Preempted(signals.received, step - 1)
            lr_now = set_learning_rates(net, cfg, step, run.n_steps)

            lr, hr = run.batches()
            sr, g_values = generator_step(net, lr, hr)
            d_values = discriminator_steps(net, cfg, sr, hr, run.batches) if net.adv is not None else None
            state.meter.add(g_values, d_values)  # device writes only: no sync

            if run.window_ends(step):
                window = state.meter.read(step)  # the window's one host-device sync
                if window.diverged_at is not None:
                    state.diverge(net, window.diverged_at)
                    return
                val_psnr = run.validate() if run.validates(step) else None
                state.log_window(window, val_psnr, net)
                progress.log(step, window.means, val_psnr, lr_now)
            if run.saves(step):
                run.save_step(step)
            if run.checkpoints(step):
                state.save(checkpoint_path, net, run.batches, step)
