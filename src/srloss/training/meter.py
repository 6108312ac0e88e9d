"""Loss values kept on the device over a logging window and read back once per window.

Each step writes its logged values (the total loss, every term, the discriminator's parts of
each discriminator step) into one row of a preallocated device buffer: one ``torch.stack`` per
generator or discriminator step, no synchronisation. At the end of a window (a log point or a
validation) ``read`` copies the filled rows to the host at once (the window's only sync) and
returns each column's mean and the first step with a NaN/Inf value, if any: divergence is caught
at the end of its window, with the exact step it started at.

The buffer and the window's position are part of the checkpoint, so a resumed run logs the same
means as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Window:
    """A window's column means, its last step, the first step with a non-finite value, and its first
    step's total loss (computed on the weights before that step's update)."""

    step: int
    means: dict[str, float]
    diverged_at: int | None
    first_loss: float


class WindowMeter:
    """Rows of ``g_columns`` (one per generator step) and ``slots`` x ``d_columns`` (one per
    discriminator step of that generator step), for at most ``capacity`` steps."""

    def __init__(self, g_columns: list[str], d_columns: list[str], slots: int, capacity: int, device: torch.device):
        self.g_columns, self.d_columns, self.slots = list(g_columns), list(d_columns), slots if d_columns else 0
        width = len(self.g_columns) + self.slots * len(self.d_columns)
        self.buffer = torch.zeros(capacity, width, device=device)
        self.count = 0  # rows filled in this window

    def add(self, g_values: list[torch.Tensor], d_values: list[list[torch.Tensor]] | None = None) -> None:
        """Record one generator step (and its discriminator steps): device writes only."""
        row, n_g, n_d = self.buffer[self.count], len(self.g_columns), len(self.d_columns)
        torch.stack([v.float() for v in g_values], out=row[:n_g])
        for k, parts in enumerate(d_values or []):
            torch.stack([v.float() for v in parts], out=row[n_g + k * n_d : n_g + (k + 1) * n_d])
        self.count += 1

    def read(self, step: int) -> Window:
        """The window that ends at ``step`` (its rows were steps ``step - count + 1 .. step``); empties it."""
        rows = self.buffer[: self.count].cpu().numpy().astype(np.float64)  # the window's one host-device sync
        first = step - self.count + 1
        bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
        n_g = len(self.g_columns)
        means = dict(zip(self.g_columns, rows[:, :n_g].mean(axis=0).tolist()))
        if self.slots:
            d = rows[:, n_g:].reshape(len(rows), self.slots, len(self.d_columns))
            means.update(zip(self.d_columns, d.mean(axis=(0, 1)).tolist()))
        self.count = 0
        return Window(step, means, int(first + bad[0]) if len(bad) else None, float(rows[0, 0]))

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.detach().cpu().clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.buffer.copy_(state["buffer"])
        self.count = int(state["count"])
