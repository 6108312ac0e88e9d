"""How long a study's training will take: an estimate from the models' arithmetic, calibrated once.

A training step costs about three forward passes (forward, and a backward pass of twice the
work); a forward pass costs the multiply-accumulates (MACs) of its convolution and linear
layers, counted by running the model once on one patch of the run's size and multiplied by the
batch size (``forward_macs``; never on the whole batch, which may not fit in memory). The seconds
per MAC come from one measurement (bench/demo-timing.md, run 4:
the demo's 24 training jobs took 227 CPU-s on a 2-core AMD EPYC for 9.75 T MACs of steps,
after about 3 CPU-s of start-up per job). It is an estimate: loss terms with a network of their
own (VGG, LPIPS, a discriminator), validation and other CPUs add to it, and no GPU has been
measured yet, so GPU time is not estimated.
"""

from __future__ import annotations

import torch

from srloss.models.base import build_model

CPU_SECONDS_PER_GMAC = 0.0159  # (227 - 24 x 3) CPU-s / 9751.8 GMAC of fwd+bwd steps (bench/demo-timing.md)
STARTUP_CPU_SECONDS = 3.0  # per training job: Python, torch, the shards, a first validation
STEP_PASSES = 3  # a step = forward + backward (about twice the forward's work)


def forward_macs(arch: str, scale: int, options: dict, batch: int, lr_side: int, frames: int | None) -> int:
    """Multiply-accumulates of one forward pass of ``arch`` on a batch of ``lr_side`` px LR patches."""
    model = build_model(arch, scale, options).eval()
    shape = (1, 3, lr_side, lr_side) if not frames else (1, frames, 3, lr_side, lr_side)  # MACs scale with the batch
    total = 0

    def count(module: torch.nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            total += (
                output.numel() * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
            )
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total * batch


def training_cpu_seconds(runs: list[tuple[str, int, dict, int, int, int | None, int]]) -> float:
    """Estimated CPU-seconds to train ``runs``: (arch, scale, options, batch, LR patch side, frames,
    steps) each; the MACs of one (arch, scale, options, batch, side) are counted once."""
    seconds, cache = 0.0, {}
    for arch, scale, options, batch, side, frames, steps in runs:
        key = (arch, scale, repr(sorted(options.items())), batch, side, frames)
        if key not in cache:
            cache[key] = forward_macs(arch, scale, options, batch, side, frames)
        seconds += STARTUP_CPU_SECONDS + STEP_PASSES * cache[key] * steps * CPU_SECONDS_PER_GMAC / 1e9
    return seconds
