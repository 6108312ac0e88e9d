"""Does ``training.compile`` pay? Steps per second of srloss's own training step, eager vs compiled.

Runs ``srloss.training.steps.generator_step`` (forward, loss, backward, Adam) and the logging
meter on fixed random batches, as the training loop does, for each model, first eagerly, then
with ``torch.compile`` (what ``training.compile: true`` does). The first ``--warmup`` steps (which
include compiling) are timed apart. Prints one line per (model, mode) and the device.

    python bench/train_compile.py --device cpu --threads 2
    python bench/train_compile.py --device cuda --batch 16 --patch 96
"""

from __future__ import annotations

import argparse
import time

import torch

from srloss.training.meter import WindowMeter
from srloss.training.settings import TrainingConfig
from srloss.training.setup import build_networks, compile_generator, seed_everything
from srloss.training.steps import generator_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(arch: str, compiled: bool, args: argparse.Namespace, device: torch.device) -> tuple[float, float, bool]:
    """(seconds of the warm-up steps, milliseconds per step after them, compiled or not)."""
    seed_everything(0)
    torch._dynamo.reset()
    spec = {"arch": arch, "scale": args.scale, "model_options": {}, "terms": [{"name": "l1"}]}
    net = build_networks(spec, TrainingConfig.from_dict({"compile": compiled}), device)
    if compiled:
        compile_generator(net, device)
    lr = torch.rand(args.batch, 3, args.patch // args.scale, args.patch // args.scale, device=device)
    hr = torch.rand(args.batch, 3, args.patch, args.patch, device=device)
    meter = WindowMeter(net.g_columns, [], 0, args.steps + args.warmup, device)
    start = time.perf_counter()
    for _ in range(args.warmup):
        meter.add(generator_step(net, lr, hr)[1])
    sync(device)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        meter.add(generator_step(net, lr, hr)[1])
    sync(device)
    return warm, (time.perf_counter() - start) / args.steps * 1000, net.compiled


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--archs", nargs="+", default=["srcnn", "espcn"])
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--patch", type=int, default=48, help="HR patch side")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=50, help="timed steps after the warm-up")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch} x {args.patch} px HR, x{args.scale}, l1 loss")
    for arch in args.archs:
        eager_ms = None
        for compiled in (False, True):
            warm, ms, used = bench(arch, compiled, args, device)
            eager_ms = ms if not compiled else eager_ms
            label = "compiled" if used else ("eager (compile fell back)" if compiled else "eager")
            print(
                f"{arch:8s} {label:26s} first {args.warmup} steps {warm:7.2f} s | {ms:8.2f} ms/step"
                f" | {eager_ms / ms:5.2f}x eager"
            )


if __name__ == "__main__":
    main()
