"""Discriminators and adversarial losses: hand-computed values and published properties."""

import math

import pytest
import torch
from torch import nn

from srloss.losses.adversarial import KINDS, AdversarialLoss, discriminator_loss, generator_loss, gradient_penalty
from srloss.losses.composite import build_loss
from srloss.models import DISCRIMINATORS
from srloss.models.discriminators import build_discriminator


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("size", [24, 32, 48, 50, 96])
def test_vgg_discriminator_accepts_any_patch_size(size):
    d = build_discriminator("vgg", {"channels": 8})
    assert d(torch.rand(2, 3, size, size)).shape == (2, 1)
    assert d(torch.rand(2, 3, size, size + 8)).shape == (2, 1)


@pytest.mark.parametrize("size", [8, 24, 32, 50, 96])
def test_unet_discriminator_gives_one_logit_per_pixel(size):
    d = build_discriminator("unet", {"channels": 8})
    assert d(torch.rand(2, 3, size, size)).shape == (2, 1, size, size)


def test_unet_discriminator_is_spectrally_normalised_and_rejects_tiny_patches():
    d = build_discriminator("unet", {"channels": 8})
    assert hasattr(d.conv1, "weight_orig") and hasattr(d.conv8, "weight_u")  # torch.nn.utils.spectral_norm
    with pytest.raises(ValueError, match="at least 8 px"):
        d(torch.rand(1, 3, 4, 4))


def test_unknown_discriminator_lists_choices():
    with pytest.raises(KeyError, match="valid choices: unet, vgg"):
        build_discriminator("patchgan")
    assert set(DISCRIMINATORS) == {"vgg", "unet"}


REAL = torch.tensor([[2.0], [0.5]])
FAKE = torch.tensor([[-1.0], [1.0]])


def test_standard_gan_hand_computed():
    d = (
        -(math.log(sigmoid(2.0)) + math.log(sigmoid(0.5))) / 2
        - (math.log(1 - sigmoid(-1.0)) + math.log(1 - sigmoid(1.0))) / 2
    )
    g = -(math.log(sigmoid(-1.0)) + math.log(sigmoid(1.0))) / 2  # non-saturating: -log D(G(z))
    assert math.isclose(float(discriminator_loss("standard", REAL, FAKE)), d, rel_tol=1e-6)
    assert math.isclose(float(generator_loss("standard", None, FAKE)), g, rel_tol=1e-6)


def test_ragan_hand_computed_and_symmetric():
    mean_real, mean_fake = 1.25, 0.0
    d_real = -(math.log(sigmoid(2.0 - mean_fake)) + math.log(sigmoid(0.5 - mean_fake))) / 2
    d_fake = -(math.log(1 - sigmoid(-1.0 - mean_real)) + math.log(1 - sigmoid(1.0 - mean_real))) / 2
    assert math.isclose(float(discriminator_loss("ragan", REAL, FAKE)), (d_real + d_fake) / 2, rel_tol=1e-6)
    # ESRGAN: the generator's loss is the discriminator's with real and fake swapped
    real, fake = torch.randn(5, 1, 4, 4), torch.randn(5, 1, 4, 4)
    assert torch.allclose(generator_loss("ragan", real, fake), discriminator_loss("ragan", fake, real))
    # and it is a relative measure: adding a constant to every logit changes nothing
    assert torch.allclose(discriminator_loss("ragan", real + 3, fake + 3), discriminator_loss("ragan", real, fake))
    with pytest.raises(ValueError, match="needs the logits of real images"):
        generator_loss("ragan", None, fake)


def test_wgan_hand_computed():
    assert math.isclose(float(discriminator_loss("wgan", REAL, FAKE)), 0.0 - 1.25)
    assert math.isclose(float(generator_loss("wgan", None, FAKE)), -0.0)
    assert math.isclose(float(discriminator_loss("wgan_gp", REAL, FAKE)), -1.25)  # the penalty is added by the term


def test_hinge_is_zero_when_margins_are_satisfied():
    assert float(discriminator_loss("hinge", torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -2.5]))) == 0.0
    # hand-computed: relu(1 - 0.5) and relu(1 + 1) averaged per part
    assert math.isclose(float(discriminator_loss("hinge", REAL, FAKE)), (0 + 0.5) / 2 + (0 + 2.0) / 2)
    assert math.isclose(float(generator_loss("hinge", None, FAKE)), 0.0)


class Linear(nn.Module):
    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w.flatten()).sum(1, keepdim=True)


def test_gradient_penalty_is_zero_for_unit_gradient_linear_critic():
    w = torch.randn(3 * 8 * 8)
    critic = Linear(w / w.norm())  # 1-Lipschitz, gradient norm exactly 1 everywhere
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    assert float(gradient_penalty(critic, real, fake).detach()) < 1e-10
    critic2 = Linear(2 * w / w.norm())  # gradient norm 2 -> penalty (2 - 1)^2 = 1
    assert math.isclose(float(gradient_penalty(critic2, real, fake).detach()), 1.0, rel_tol=1e-5)


def test_unknown_kind_lists_choices():
    with pytest.raises(ValueError, match="valid choices: standard, ragan, wgan, wgan_gp, hinge"):
        discriminator_loss("lsgan", REAL, FAKE)


@pytest.mark.parametrize("kind", KINDS)
def test_generator_term_trains_generator_not_discriminator(kind):
    torch.manual_seed(0)
    loss = build_loss(
        [
            {"name": "mse"},
            {
                "name": "adversarial",
                "weight": 0.1,
                "kind": kind,
                "discriminator": "vgg",
                "discriminator_options": {"channels": 4, "stages": 2, "norm": "none"},
            },
        ]
    )
    adv = loss.terms[1]
    sr = torch.rand(2, 3, 16, 16, requires_grad=True)
    hr = torch.rand(2, 3, 16, 16)
    total, values = loss(sr, hr)
    total.backward()
    assert set(values) == {"mse", "adversarial"}
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in adv.discriminator.parameters())  # frozen during the generator step
    assert all(p.requires_grad for p in adv.discriminator.parameters())  # and unfrozen afterwards
    d_loss, parts = adv.discriminator_step(sr, hr)
    d_loss.backward()
    assert all(p.grad is not None for p in adv.discriminator.parameters())
    assert list(parts) == adv.log_columns
    if kind == "wgan_gp":
        assert float(parts["d_loss"]) == pytest.approx(
            float(discriminator_loss(kind, adv.discriminator(hr), adv.discriminator(sr.detach())).detach())
            + 10 * float(parts["d_gp"]),
            rel=1e-5,
        )


def test_wgan_clip_weights():
    adv = AdversarialLoss(
        kind="wgan", discriminator="vgg", discriminator_options={"channels": 4, "stages": 1, "norm": "none"}
    )
    largest = lambda: max(float(p.detach().abs().max()) for p in adv.discriminator.parameters())  # noqa: E731
    assert largest() > 0.01
    adv.clip_weights(0.01)
    assert largest() <= 0.01


def test_the_terms_critic_steps_and_clip_fall_back_to_the_training_section():
    small = {"discriminator": "vgg", "discriminator_options": {"channels": 4, "stages": 1, "norm": "none"}}
    wgan = AdversarialLoss(kind="wgan", steps_per_g=5, clip=0.02, **small)
    assert wgan.critic_steps(1) == 5 and wgan.weight_clip(0.01) == 0.02
    plain = AdversarialLoss(kind="wgan", **small)
    assert plain.critic_steps(2) == 2 and plain.weight_clip(0.01) == 0.01
    assert AdversarialLoss(kind="ragan", **small).weight_clip(0.01) is None  # only plain WGAN clips
    with pytest.raises(ValueError, match="option clip: weight clipping is only used by kind 'wgan'"):
        AdversarialLoss(kind="wgan_gp", clip=0.01, **small)
