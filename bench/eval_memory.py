"""Peak memory and time of RRDBNet x2 on a DIV2K-sized image (2040×1356 HR), whole vs tiled,
and evaluation throughput with LPIPS.

Each measurement runs in a fresh child process so the CPU peak (the process's peak RSS) belongs
to that measurement alone; on CUDA the peak is ``torch.cuda.max_memory_allocated``. On the CPU
use few RRDB blocks (``--blocks 2``; the default network has 23): memory of the activations does
not depend on the depth, time does. Weights are random: memory and time do not depend on them.
LPIPS uses a randomly initialised VGG trunk offline (``random_backbone=True``): same cost as the
real one, meaningless values.

    python bench/eval_memory.py --blocks 2 --tile 128
    python bench/eval_memory.py --device cuda --blocks 23 --tile 256
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import torch

from srloss.models.base import build_model
from srloss.ops.tiling import receptive_radius, tiled_forward

HR_W, HR_H, SCALE = 2040, 1356, 2


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def sr_pass(
    model: torch.nn.Module, lr: torch.Tensor, scale: int, tile: int, overlap: int | None = None
) -> tuple[torch.Tensor, float, float]:
    """One SR pass (whole when ``tile`` is 0, else tiled; ``overlap`` None: the exact receptive
    radius): (output, peak MiB, seconds). On CUDA the peak is this pass's own (reset before it);
    on the CPU it is the process's peak RSS so far."""
    device = lr.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        sr = tiled_forward(model, lr, scale, tile, overlap)
    sync(device)
    return sr, peak_mib(device), time.perf_counter() - start


def measure(args: argparse.Namespace) -> None:
    """Child: one SR pass (whole, or tiled when --tile > 0) and print 'peak MiB, seconds, output shape'."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("rrdbnet", SCALE, {"blocks": args.blocks}).to(device).eval()
    lr = torch.rand(1, 3, HR_H // SCALE, HR_W // SCALE, device=device)
    sr, peak, seconds = sr_pass(model, lr, SCALE, args.tile, None if args.overlap < 0 else args.overlap)
    print(f"{peak:.0f} {seconds:.2f} {tuple(sr.shape)}")


def lpips_throughput(args: argparse.Namespace) -> None:
    """Child: images/s of LPIPS-VGG (random trunk) on 2040×1356 pairs, one image per call."""
    from srloss.metrics.perceptual import LPIPS

    metric = LPIPS("vgg", args.device, random_backbone=True)
    img = torch.randint(0, 256, (1, 3, HR_H, HR_W), dtype=torch.uint8)
    metric(img, img)
    start = time.perf_counter()
    for _ in range(args.images):
        metric(img, img)
    seconds = time.perf_counter() - start
    print(
        f"LPIPS-VGG (random trunk) on {HR_W}x{HR_H}: {args.images / seconds:.3f} images/s, "
        f"peak {peak_mib(torch.device(args.device)):.0f} MiB"
    )


def child(args: argparse.Namespace, *extra: str) -> str:
    base = [sys.executable, __file__, "--device", args.device, "--blocks", str(args.blocks)]
    base += ["--threads", str(args.threads), "--images", str(args.images)]
    return subprocess.run(base + list(extra), capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--tile", type=int, default=128, help="LR tile side for the tiled pass")
    p.add_argument("--overlap", type=int, default=-1, help="LR overlap (-1: the exact receptive radius)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=2, help="LPIPS images to time")
    p.add_argument("--child", choices=["sr", "lpips"], default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child == "sr":
        return measure(args)
    if args.child == "lpips":
        return lpips_throughput(args)
    radius = receptive_radius(build_model("rrdbnet", SCALE, {"blocks": args.blocks}))
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; torch {torch.__version__}; RRDBNet x2, {args.blocks} blocks, LR {HR_W // 2}x{HR_H // 2}")
    print("| pass | peak MiB | seconds | output |\n|---|---|---|---|")
    print("| whole | " + " | ".join(child(args, "--child", "sr", "--tile", "0").split(" ", 2)) + " |")
    overlap = str(args.overlap)
    tiled = child(args, "--child", "sr", "--tile", str(args.tile), "--overlap", overlap).split(" ", 2)
    label = f"tiled {args.tile}, overlap {radius if args.overlap < 0 else args.overlap}"
    print(f"| {label} | " + " | ".join(tiled) + " |")
    print(child(args, "--child", "lpips"))


if __name__ == "__main__":
    main()
