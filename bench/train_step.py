"""What does srloss's training step cost over the bare model? One row per preset model × loss.

For every (model, loss) pair of the presets (``config.yaml`` and ``config/experiments/*.yaml``),
times ``srloss.training.steps.generator_step`` with the logging meter (what the training loop
runs) against the bare model: forward, an L1 loss, backward and Adam on the same tensors, with
no loss bookkeeping and no data loading. Bare and real steps alternate in rounds and the median
round is kept, so load from other processes hits both alike. Peak memory: CUDA max allocated,
or on the CPU the process's peak RSS (monotone over the run: an upper bound per row).

Rows whose loss cannot be built here (a backbone's weights not cached, say) print the reason.

    python bench/train_step.py                     # every preset pair, CPU
    python bench/train_step.py --quick             # config.yaml's pairs, tiny patches, few steps
    python bench/train_step.py --device cuda --batch 16 --patch 96
"""

from __future__ import annotations

import argparse
import glob
import math
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from srloss.study import load_yaml
from srloss.training.meter import WindowMeter
from srloss.training.settings import ExecutionConfig, TrainingConfig
from srloss.training.setup import Networks, build_networks, seed_everything
from srloss.training.steps import generator_step

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("preset", "model", "loss", "ms/step", "samples/s", "bare ms", "overhead %", "peak MiB")


def preset_pairs(paths: list[Path]) -> list[tuple[str, dict, str, list]]:
    """(preset, model entry, loss name, terms) for every model × loss of each preset file."""
    pairs = []
    for path in paths:
        cfg = load_yaml(path)
        for model in (cfg.get("models") or {}).values():
            for loss_name, loss in (cfg.get("losses") or {}).items():
                pairs.append((path.stem, model, loss_name, loss["terms"]))
    return pairs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def bare_step(net: Networks, opt: torch.optim.Optimizer, lr: torch.Tensor, hr: torch.Tensor) -> None:
    """Forward + L1 + backward + Adam: the least any training step must do (in the same autocast
    as the real step, so that bf16 is compared with bf16)."""
    with net.autocast:
        loss = F.l1_loss(net.model(lr), hr)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def timed(fn, n: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``n`` calls."""
    sync(device)
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - start) / n


def inputs(net: Networks, spec: dict, args: argparse.Namespace, device: torch.device):
    frames = getattr(net.model, "frames", None)
    lr_side = args.patch // spec["scale"]
    lr_shape = (args.batch, frames, 3, lr_side, lr_side) if frames else (args.batch, 3, lr_side, lr_side)
    return torch.rand(lr_shape, device=device), torch.rand(args.batch, 3, args.patch, args.patch, device=device)


def bench_pair(
    model: dict, terms: list, args: argparse.Namespace, device: torch.device, precision: str | None = None
) -> tuple[float, float]:
    """(seconds per real step, seconds per bare step), medians over ``args.rounds`` alternating rounds.

    ``precision`` None: what training does by default (bf16 autocast on CUDA, fp32 on the CPU);
    "fp32" or "bf16" forces it, "bf16" as CPU autocast on the CPU (bench/gpu_check.py's dry mode).
    """
    seed_everything(0)
    spec = {"arch": model["arch"], "scale": args.scale, "model_options": model.get("options", {}), "terms": terms}
    cfg = TrainingConfig.from_dict({} if precision is None else {"precision": precision})
    net = build_networks(spec, cfg, device)
    if precision == "bf16" and device.type == "cpu":  # training never autocasts on the CPU
        net.autocast = torch.autocast("cpu", dtype=torch.bfloat16)
    bare_opt = torch.optim.Adam(net.model.parameters(), lr=1e-4)
    lr, hr = inputs(net, spec, args, device)
    window = ExecutionConfig().log_every
    meter = WindowMeter(net.g_columns, [], 0, window, device)

    def real() -> None:  # the loop's step: values stay on the device, read once per window
        meter.add(generator_step(net, lr, hr)[1])
        if meter.count == window:
            meter.read(window)

    bare = lambda: bare_step(net, bare_opt, lr, hr)  # noqa: E731
    timed(real, args.warmup, device)
    timed(bare, args.warmup, device)
    rounds = [(timed(real, args.steps, device), timed(bare, args.steps, device)) for _ in range(args.rounds)]
    return statistics.median(r for r, _ in rounds), statistics.median(b for _, b in rounds)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def row(preset: str, model: dict, loss: str, terms: list, args, device, precision: str | None = None) -> tuple:
    name = model["arch"]
    try:
        real, bare = bench_pair(model, terms, args, device, precision)
    except Exception as e:  # noqa: BLE001 (a row that cannot run says why; the others still run)
        return (preset, name, loss, f"skipped: {type(e).__name__}: {str(e)[:80]}")
    overhead = (real - bare) / bare * 100
    return (preset, name, loss, real * 1e3, args.batch / real, bare * 1e3, overhead, peak_mib(device))


def fmt(cell) -> str:
    return f"{cell:.2f}" if isinstance(cell, float) else str(cell)


def print_table(rows: list[tuple]) -> None:
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for r in rows:
        print("| " + " | ".join(fmt(c) for c in r) + " |")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--presets", nargs="+", type=Path, default=None, help="preset files (default: all)")
    p.add_argument("--models", nargs="+", default=None, help="only these archs")
    p.add_argument("--losses", nargs="+", default=None, help="only these loss names")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--patch", type=int, default=48, help="HR patch side")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating real/bare rounds; the median is kept")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="config.yaml only, 16 px patches, batch 4, 3 x 3 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.presets = args.presets or [ROOT / "config.yaml"]
        args.patch, args.batch, args.steps, args.rounds, args.warmup = 16, 4, 3, 3, 1
    args.presets = args.presets or [
        ROOT / "config.yaml",
        *map(Path, sorted(glob.glob(str(ROOT / "config/experiments/*.yaml")))),
    ]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}; python {platform.python_version()}")
    print(f"batch {args.batch} x {args.patch} px HR, x{args.scale}; {args.rounds} rounds x {args.steps} steps")
    rows = []
    for preset, model, loss, terms in preset_pairs(args.presets):
        if (args.models and model["arch"] not in args.models) or (args.losses and loss not in args.losses):
            continue
        rows.append(row(preset, model, loss, terms, args, device))
    print_table(rows)
    finite = [r[6] for r in rows if len(r) == len(HEADER) and math.isfinite(r[6])]
    if finite:
        print(f"median overhead: {statistics.median(finite):.2f} %")


if __name__ == "__main__":
    main()
