"""One training step, with no host-device synchronisation, and validation.

``generator_step`` and ``discriminator_steps`` return the values they log as detached device
tensors: nothing here calls ``float()``, ``.item()`` or branches on a tensor, so the host can
queue the next step while the device still runs this one. The loop reads the values once per
logging window (``srloss.training.meter``).

Alternating GAN training: one generator step (discriminator frozen by the adversarial term),
then the adversarial term's ``steps_per_g`` (else ``training.discriminator.steps_per_g``)
discriminator steps, the first on the generator step's SR images, the others on fresh batches;
plain WGAN clips the critic's weights after each (Arjovsky et al. 2017; the term's ``clip``, else
``training.discriminator.clip``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from srloss.metrics import psnr
from srloss.ops import crop_border, rgb_to_y, to_uint8
from srloss.training.schedules import lr_factor
from srloss.training.settings import TrainingConfig
from srloss.training.setup import Networks


def set_learning_rates(net: Networks, cfg: TrainingConfig, step: int, n_steps: int) -> float:
    """Apply the schedule's factor for ``step`` to both optimisers; return the generator's rate."""
    factor = lr_factor(cfg.schedule, step, n_steps)
    for group in net.optimizer.param_groups:
        group["lr"] = cfg.lr * factor
    if net.d_optimizer is not None:
        for group in net.d_optimizer.param_groups:
            group["lr"] = cfg.discriminator.lr * factor
    return cfg.lr * factor


def generator_step(net: Networks, lr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One optimiser step of the generator; returns the SR batch and [total, *terms], detached."""
    with net.autocast:
        sr = net.forward(lr)
        total, terms = net.loss_fn(sr, hr, {"lr": lr})
    net.optimizer.zero_grad(set_to_none=True)
    total.backward()
    net.optimizer.step()
    return sr, [total.detach(), *terms.values()]


def discriminator_steps(
    net: Networks,
    cfg: TrainingConfig,
    sr: torch.Tensor,
    hr: torch.Tensor,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
) -> list[list[torch.Tensor]]:
    """The adversarial term's discriminator steps; returns each step's logged parts (detached tensors)."""
    parts = []
    clip = net.adv.weight_clip(cfg.discriminator.clip)
    for k in range(net.adv.critic_steps(cfg.discriminator.steps_per_g)):
        if k > 0:
            lr, hr = next_batch()
            with torch.no_grad(), net.autocast:
                sr = net.forward(lr)
        with net.autocast:
            d_loss, d_parts = net.adv.discriminator_step(sr, hr)
        net.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        net.d_optimizer.step()
        if clip is not None:
            net.adv.clip_weights(clip)
        parts.append([torch.as_tensor(v, device=d_loss.device) for v in d_parts.values()])
    return parts


@torch.no_grad()
def validate(model: torch.nn.Module, images: list, scale: int, device: torch.device) -> float:
    """Mean Y-channel PSNR (border = scale) over whole validation images (eager, not compiled)."""
    model.eval()
    values = []
    for _, lr, hr in images:
        lr_t = torch.from_numpy(lr).float().div(255)[None].to(device)
        sr = to_uint8(model(lr_t)[0].float()).cpu()
        values.append(psnr(rgb_to_y(crop_border(sr, scale)), rgb_to_y(crop_border(torch.from_numpy(hr), scale))))
    model.train()
    return float(np.mean(values))
