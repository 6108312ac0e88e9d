import math

import pytest
import torch

from srloss.losses import LOSS_TERMS, build_loss
from srloss.losses.pixel import CharbonnierLoss, L1Loss, MSELoss

SR = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
HR = torch.tensor([[0.5, 0.5], [0.0, 0.0]])  # differences -0.5, 0, 1, 0.25


def test_mse_hand_computed():
    assert math.isclose(float(MSELoss()(SR, HR)), (0.25 + 0 + 1 + 0.0625) / 4)


def test_l1_hand_computed():
    assert math.isclose(float(L1Loss()(SR, HR)), (0.5 + 0 + 1 + 0.25) / 4)


def test_charbonnier_hand_computed_and_tends_to_l1():
    eps = 0.1
    expected = sum(math.sqrt(d * d + eps * eps) for d in (0.5, 0.0, 1.0, 0.25)) / 4
    assert math.isclose(float(CharbonnierLoss(eps)(SR, HR)), expected, rel_tol=1e-6)
    gaps = [float(CharbonnierLoss(e)(SR, HR) - L1Loss()(SR, HR)) for e in (1e-1, 1e-2, 1e-3)]
    assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[2] <= 1e-3


def test_charbonnier_rejects_non_positive_eps():
    with pytest.raises(ValueError, match="eps"):
        CharbonnierLoss(0)


def test_composite_is_weighted_sum_and_logs_each_term():
    loss = build_loss([{"name": "l1", "weight": 0.5}, {"name": "mse", "weight": 2.0}])
    total, terms = loss(SR, HR)
    l1, mse = float(L1Loss()(SR, HR)), float(MSELoss()(SR, HR))
    assert math.isclose(float(total), 0.5 * l1 + 2.0 * mse, rel_tol=1e-6)
    assert terms == pytest.approx({"l1": l1, "mse": mse})


def test_repeated_term_names_get_distinct_labels():
    loss = build_loss([{"name": "charbonnier", "eps": 0.1}, {"name": "charbonnier", "eps": 0.01}])
    assert loss.labels == ["charbonnier_0", "charbonnier_1"]


def test_unknown_term_lists_choices():
    with pytest.raises(KeyError, match="valid choices: " + ", ".join(sorted(LOSS_TERMS))):
        build_loss([{"name": "nope"}])


def test_gradients_flow():
    sr = SR.clone().requires_grad_(True)
    total, _ = build_loss([{"name": "charbonnier"}, {"name": "mse"}])(sr, HR)
    total.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
