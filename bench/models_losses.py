"""Cost of the models and loss terms: parameters and seconds per forward+backward step.

Usage: python bench/models_losses.py [--device cpu|cuda] [--batch 4] [--lr-size 32] [--scale 4] [--repeat 3]

Models run on an LR batch (multi-frame models on T frames); loss terms on an SR/HR batch of the
matching HR size, with random backbones (same cost as ImageNet weights, no downloads). Prints
a Markdown table; the figures are medians over ``--repeat`` timed steps after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from srloss.losses.composite import build_loss
from srloss.models import MODELS
from srloss.models.base import build_model, count_parameters

TERMS = [
    {"name": "mse"},
    {"name": "charbonnier"},
    {"name": "huber", "delta": 0.01},
    {"name": "ssim"},
    {"name": "tv"},
    {"name": "downsampled"},
    {"name": "vgg", "layers": "relu2_2"},
    {"name": "vgg", "layers": "conv5_4", "criterion": "l1"},
    {"name": "resnet", "arch": "resnet18"},
    {"name": "resnet", "arch": "resnet50"},
    {"name": "lpips", "net": "alex"},
    {"name": "lpips", "net": "vgg"},
    {"name": "gram"},
]


def timed(fn, device: torch.device, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr-size", type=int, default=32)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    device, n, s, size = torch.device(args.device), args.batch, args.scale, args.lr_size
    torch.manual_seed(0)
    print(f"device {device}, batch {n}, LR {size}x{size}, x{s}, threads {torch.get_num_threads()}\n")
    print("| model | parameters | s / step (fwd+bwd) |\n|---|---|---|")
    for arch, cls in MODELS.items():
        if s not in cls.scales:
            continue
        model = build_model(arch, s).to(device)
        shape = (n, 3, size, size) if cls.frames is None else (n, cls.frames, 3, size, size)
        x = torch.rand(shape, device=device)

        def step():
            out = model(x)
            if cls.trainable:
                out.mean().backward()

        print(f"| {arch} | {count_parameters(model):,} | {timed(step, device, args.repeat):.4f} |")
    print("\n| loss term | s / step (fwd+bwd) |\n|---|---|")
    hr = torch.rand(n, 3, size * s, size * s, device=device)
    lr = torch.rand(n, 3, size, size, device=device)
    for term in TERMS:
        options = {**term, "backbone_weights": "random"} if term["name"] in ("vgg", "resnet", "lpips", "gram") else term
        loss = build_loss([options]).to(device)
        sr = torch.rand_like(hr, requires_grad=True)

        def step():
            loss(sr, hr, {"lr": lr})[0].backward()

        label = ", ".join(f"{k}={v}" for k, v in term.items() if k != "name")
        print(f"| {term['name']}{' (' + label + ')' if label else ''} | {timed(step, device, args.repeat):.4f} |")


if __name__ == "__main__":
    main()
