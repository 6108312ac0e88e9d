"""Adversarial losses: the generator's term and the discriminator's loss, for five GAN kinds.

``real`` and ``fake`` are discriminator logits (raw scores, any shape with the batch first:
(N, 1) for a global discriminator, (N, 1, H, W) for a per-pixel one); every loss is a mean.
softplus(-x) = -log sigmoid(x) is the binary cross-entropy with target 1, softplus(x) with
target 0, written this way for numerical stability.

* ``standard``: Goodfellow et al. 2014, with the non-saturating generator loss
  -log D(G(z)).
* ``ragan``: relativistic average GAN (Jolicoeur-Martineau 2018) as in ESRGAN (Wang et al.
  2018): D_Ra(x_r, x_f) = sigmoid(C(x_r) - E_f[C(x_f)]). The discriminator wants real "more
  realistic than the average fake" and fake "less realistic than the average real"; the
  generator wants the opposite, so its loss is the discriminator's with real and fake swapped.
  Both are averaged over the two parts, as in ESRGAN's code. The expectation is the mean over
  the batch (per position for a per-pixel discriminator).
* ``wgan``: Wasserstein GAN (Arjovsky et al. 2017): the critic minimises E[C(fake)] - E[C(real)],
  the generator -E[C(fake)]; the critic's weights are clipped to [-c, c] after each step
  (the term's ``clip``, else ``training.discriminator.clip``), with several critic steps per
  generator step (the paper's n_critic = 5: the term's ``steps_per_g``).
* ``wgan_gp``: WGAN with gradient penalty (Gulrajani et al. 2017): adds
  lambda * E[(||grad C(x_hat)||_2 - 1)^2] at random interpolates x_hat of real and fake samples,
  instead of clipping (lambda = ``gp_weight``, 10 in the paper).
* ``hinge``: Lim & Ye 2017, Miyato et al. 2018: the discriminator minimises
  E[relu(1 - C(real))] + E[relu(1 + C(fake))], the generator -E[C(fake)].
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from srloss.losses import LOSS_TERMS
from srloss.losses.base import LossTerm
from srloss.models import DISCRIMINATORS
from srloss.models.discriminators import build_discriminator
from srloss.options import Option, OptionError

KINDS = ("standard", "ragan", "wgan", "wgan_gp", "hinge")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"adversarial: unknown kind {kind!r}; valid choices: {', '.join(KINDS)}")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss from its logits on real and fake samples (no penalty)."""
    _check_kind(kind)
    if kind == "standard":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "ragan":
        real_wins = F.softplus(-(real - fake.mean(0, keepdim=True))).mean()
        fake_loses = F.softplus(fake - real.mean(0, keepdim=True)).mean()
        return 0.5 * (real_wins + fake_loses)
    if kind in ("wgan", "wgan_gp"):
        return fake.mean() - real.mean()
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()  # hinge


def generator_loss(kind: str, real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss from the discriminator's logits (``real`` only for ragan)."""
    _check_kind(kind)
    if kind == "standard":
        return F.softplus(-fake).mean()  # non-saturating: -log sigmoid(C(fake))
    if kind == "ragan":
        if real is None:
            raise ValueError("adversarial: the ragan generator loss needs the logits of real images")
        return discriminator_loss("ragan", fake, real)  # the discriminator's loss with roles swapped
    return -fake.mean()  # wgan, wgan_gp, hinge


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """E[(||grad_x C(x_hat)||_2 - 1)^2], x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per sample.

    Gulrajani et al., "Improved Training of Wasserstein GANs" (NeurIPS 2017), eq. 3. For a
    per-pixel critic the gradient is that of the sum of its outputs.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


@LOSS_TERMS.register("adversarial")
class AdversarialLoss(LossTerm):
    """Loss term ``adversarial``: owns the discriminator, trained alternately by ``srloss.training.loop``.

    Calling it (the generator side, like every loss term) scores the SR images with the
    discriminator frozen and returns the generator's adversarial loss. ``discriminator_step``
    returns the discriminator's loss (with the gradient penalty for ``wgan_gp``) on detached SR
    images; the training loop owns the discriminator's optimiser.
    """

    precision: ClassVar[str] = "autocast"  # the discriminator runs in bf16 under autocast

    options = (
        Option("kind", "ragan", "GAN formulation", type=str, choices=KINDS, what="adversarial loss"),
        Option(
            "discriminator",
            "vgg",
            "discriminator architecture (srloss.models.DISCRIMINATORS)",
            type=str,
            choices=tuple(sorted(DISCRIMINATORS)),
            what="discriminator",
        ),
        Option("discriminator_options", None, "options of the discriminator", type=dict, nullable=True),
        Option("gp_weight", 10.0, "gradient-penalty weight lambda of wgan_gp (10 in the paper)", ge=0),
        Option(
            "steps_per_g",
            None,
            "discriminator steps per generator step for this loss (default: training.discriminator.steps_per_g)",
            type=int,
            ge=1,
            nullable=True,
        ),
        Option(
            "clip",
            None,
            "wgan only: clip the critic's weights to [-clip, clip] (default: training.discriminator.clip)",
            gt=0,
            nullable=True,
        ),
    )

    @classmethod
    def check_together(cls, options: dict[str, Any]) -> None:
        """``clip`` only with ``kind: wgan``; the discriminator's options are checked by its class."""
        if options["clip"] is not None and options["kind"] != "wgan":
            raise OptionError(
                "clip",
                f"weight clipping is only used by kind 'wgan' (kind is {options['kind']!r}); "
                "remove it or set kind: wgan",
            )
        try:
            DISCRIMINATORS[options["discriminator"]].check_options(**(options["discriminator_options"] or {}))
        except OptionError as e:
            raise type(e)(f"discriminator_options.{e.option}", e.detail) from None

    @classmethod
    def check_patch_size(cls, options: dict[str, Any], patch_size: int) -> None:
        disc = DISCRIMINATORS[options["discriminator"]]
        if patch_size < disc.min_size:
            raise OptionError(
                "discriminator",
                f"{options['discriminator']!r} needs patches of at least "
                f"{disc.min_size} pixels per side, not {patch_size}",
            )

    def __init__(self, **options: Any):
        super().__init__(**options)
        # the option names the architecture; the attribute becomes the discriminator it builds
        self.discriminator = build_discriminator(self.discriminator, self.discriminator_options)

    @property
    def log_columns(self) -> list[str]:
        """The keys of ``discriminator_step``'s parts, in history column order."""
        return ["d_loss", *(["d_gp"] if self.kind == "wgan_gp" else []), "d_real", "d_fake"]

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, context: dict | None = None) -> torch.Tensor:
        self.discriminator.requires_grad_(False)  # the generator step must not train the discriminator
        try:
            real = None
            if self.kind == "ragan":
                with torch.no_grad():
                    real = self.discriminator(hr)
            return generator_loss(self.kind, real, self.discriminator(sr))
        finally:
            self.discriminator.requires_grad_(True)

    def discriminator_step(self, sr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminator's loss on (detached) SR and HR images, and its parts for logging."""
        sr = sr.detach()
        real, fake = self.discriminator(hr), self.discriminator(sr)
        loss = discriminator_loss(self.kind, real, fake)
        parts = {"d_loss": loss.detach()}  # detached tensors: no host-device sync per step
        if self.kind == "wgan_gp":
            penalty = gradient_penalty(self.discriminator, hr, sr)
            loss = loss + self.gp_weight * penalty
            parts = {"d_loss": loss.detach(), "d_gp": penalty.detach()}
        parts["d_real"] = real.detach().float().mean()
        parts["d_fake"] = fake.detach().float().mean()
        return loss, parts

    def critic_steps(self, default: int) -> int:
        """Discriminator steps per generator step: the term's ``steps_per_g``, else ``default``
        (``training.discriminator.steps_per_g``), so one study can train RaGAN 1:1 and WGAN 5:1."""
        return default if self.steps_per_g is None else self.steps_per_g

    def weight_clip(self, default: float) -> float | None:
        """The clipping bound after each critic step: None unless ``kind`` is wgan; then the term's
        ``clip``, else ``default`` (``training.discriminator.clip``)."""
        if self.kind != "wgan":
            return None
        return default if self.clip is None else self.clip

    @torch.no_grad()
    def clip_weights(self, clip: float) -> None:
        """WGAN weight clipping: clamp every discriminator parameter to [-clip, clip]."""
        for p in self.discriminator.parameters():
            p.clamp_(-clip, clip)
