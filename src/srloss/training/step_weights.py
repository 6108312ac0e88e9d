"""Generator weights saved at the steps of ``evaluation.steps`` (budget curves, docs/evaluation.md).

While training, the weights of step N go to ``.steps/N.pt`` in the run folder: like
``checkpoint.pt`` that name is no output of the train rule, because Snakemake deletes a job's
outputs before it runs it (also before a retry), and a resumed run does not pass step N again.
At the end of the run each file is copied atomically to the declared output ``steps/N.pt``;
``.steps`` is removed once the checkpoint is tidied.

A run that stopped before step N (diverged) has no weights of step N: ``steps/N.pt`` then holds
its final weights (those of ``model.pt``), and run.json's ``saved_steps`` maps N to the step the
weights are really from, so the budget table leaves that step out for the run (srloss.report.budget).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from srloss.atomic import atomic_path
from srloss.training import checkpoint

PENDING = ".steps"  # in the run folder, written during training
PUBLISHED = "steps"  # in the run folder, the train rule's outputs


def check_steps(steps: list[int], n_steps: int) -> None:
    """Refuse a save step beyond the run length (known here when the length is set in epochs)."""
    late = [s for s in steps if s > n_steps]
    if late:
        raise ValueError(
            f"config key evaluation.steps: step {max(late)} is beyond this run's length ({n_steps} steps); "
            f"expected steps between 1 and {n_steps}"
        )


def save_step(folder: Path, model: torch.nn.Module, step: int) -> None:
    """Write the generator's weights of ``step`` to ``folder/<step>.pt`` (atomic)."""
    checkpoint.save_tensors(checkpoint.cpu_state_dict(model), folder / f"{step}.pt")


def clear(folder: Path) -> None:
    """Forget the step weights of an earlier attempt (a fresh run starts without them)."""
    shutil.rmtree(folder, ignore_errors=True)


def weights_steps(steps: list[int], steps_done: int) -> dict[str, int]:
    """For run.json: the step each saved file's weights are from (``steps_done`` if not reached)."""
    return {str(s): s if s <= steps_done else steps_done for s in steps}


def publish(pending: Path, out: Path, steps: list[int], steps_done: int, model: torch.nn.Module) -> None:
    """Copy each ``pending/N.pt`` to ``out/N.pt`` (atomic); a step not reached gets the final weights."""
    for step in steps:
        target = out / f"{step}.pt"
        if step > steps_done:
            save_step(out, model, step)
            continue
        source = pending / f"{step}.pt"
        if not source.is_file():
            raise FileNotFoundError(
                f"{source}: the weights of step {step} are gone (an earlier attempt published them); "
                f"delete {pending.parent / 'checkpoint.pt'} and rerun the job to train from scratch"
            )
        with atomic_path(target, size_hint=source.stat().st_size) as tmp:
            shutil.copyfile(source, tmp)
