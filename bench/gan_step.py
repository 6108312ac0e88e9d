"""Cost of one training step with and without an adversarial term, and of writing a checkpoint.

Prints milliseconds per step (generator step, plus discriminator step for GAN losses) and the
checkpoint's size and save time, for a given architecture, patch size and batch on this
machine. Usage:

    python bench/gan_step.py [--arch espcn] [--scale 2] [--patch 32] [--batch 4] [--steps 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from srloss.losses.composite import build_loss
from srloss.models.base import build_model
from srloss.training import checkpoint

LOSSES = {
    "mse": [{"name": "mse"}],
    "mse+ragan(vgg)": [
        {"name": "mse"},
        {"name": "adversarial", "weight": 5e-3, "kind": "ragan", "discriminator": "vgg"},
    ],
    "mse+wgan_gp(vgg,no norm)": [
        {"name": "mse"},
        {
            "name": "adversarial",
            "weight": 5e-3,
            "kind": "wgan_gp",
            "discriminator": "vgg",
            "discriminator_options": {"norm": "none"},
        },
    ],
    "mse+hinge(unet)": [
        {"name": "mse"},
        {"name": "adversarial", "weight": 5e-3, "kind": "hinge", "discriminator": "unet"},
    ],
}


def bench(arch: str, scale: int, patch: int, batch: int, steps: int, device: str) -> None:
    for name, terms in LOSSES.items():
        torch.manual_seed(0)
        model = build_model(arch, scale, {}).to(device)
        loss_fn = build_loss(terms).to(device)
        adv = next((t for t in loss_fn.terms if hasattr(t, "discriminator_step")), None)
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        d_opt = torch.optim.Adam(adv.discriminator.parameters(), 1e-4) if adv else None
        lr = torch.rand(batch, 3, patch // scale, patch // scale, device=device)
        hr = torch.rand(batch, 3, patch, patch, device=device)

        def step():
            sr = model(lr)
            total, _ = loss_fn(sr, hr, {"lr": lr})
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            if adv is not None:
                d_loss, _ = adv.discriminator_step(sr, hr)
                d_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                d_opt.step()

        step()  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        ms = (time.perf_counter() - start) / steps * 1000
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "checkpoint.pt"
            state = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "discriminator": adv.discriminator.state_dict() if adv else None,
                "d_optimizer": d_opt.state_dict() if d_opt else None,
            }
            t0 = time.perf_counter()
            checkpoint.save(path, state)
            save_ms = (time.perf_counter() - t0) * 1000
            size_mb = path.stat().st_size / 1e6
        print(
            f"{arch} x{scale} patch {patch} batch {batch} {device} | {name:26s} | {ms:8.1f} ms/step | "
            f"checkpoint {size_mb:7.1f} MB in {save_ms:6.1f} ms"
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="espcn")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--patch", type=int, default=32)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    bench(a.arch, a.scale, a.patch, a.batch, a.steps, a.device)
