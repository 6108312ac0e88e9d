import math
import re

import pytest
import torch

from srloss.losses import LOSS_TERMS
from srloss.losses.composite import build_loss
from srloss.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from srloss.ops import imresize
from srloss.ops.precision import autocast_agreement

SR = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
HR = torch.tensor([[0.5, 0.5], [0.0, 0.0]])  # differences -0.5, 0, 1, 0.25


def test_mse_hand_computed():
    assert math.isclose(float(MSELoss()(SR, HR)), (0.25 + 0 + 1 + 0.0625) / 4)


def test_l1_hand_computed():
    assert math.isclose(float(L1Loss()(SR, HR)), (0.5 + 0 + 1 + 0.25) / 4)


def test_charbonnier_hand_computed_and_tends_to_l1():
    eps = 0.1
    expected = sum(math.sqrt(d * d + eps * eps) for d in (0.5, 0.0, 1.0, 0.25)) / 4
    assert math.isclose(float(CharbonnierLoss(eps=eps)(SR, HR)), expected, rel_tol=1e-6)
    gaps = [float(CharbonnierLoss(eps=e)(SR, HR) - L1Loss()(SR, HR)) for e in (1e-1, 1e-2, 1e-3)]
    assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[2] <= 1e-3


def test_charbonnier_rejects_non_positive_eps():
    with pytest.raises(ValueError, match="eps"):
        CharbonnierLoss(eps=0)


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


# --- pixel: Huber and smooth L1 -------------------------------------------------------------


def test_huber_hand_computed():
    from srloss.losses.pixel import HuberLoss

    delta = 0.3  # |d| = 0.5, 0, 1, 0.25: linear, quadratic, linear, quadratic
    expected = (delta * (0.5 - delta / 2) + 0 + delta * (1 - delta / 2) + 0.5 * 0.25**2) / 4
    assert math.isclose(float(HuberLoss(delta=delta)(SR, HR)), expected, rel_tol=1e-6)


def test_smooth_l1_is_huber_over_beta_and_tends_to_l1():
    from srloss.losses.pixel import HuberLoss, SmoothL1Loss

    assert math.isclose(float(SmoothL1Loss(beta=0.3)(SR, HR)), float(HuberLoss(delta=0.3)(SR, HR)) / 0.3, rel_tol=1e-6)
    betas = (0.5, 0.05, 0.005)
    gaps = [abs(float(SmoothL1Loss(beta=b)(SR, HR) - L1Loss()(SR, HR))) for b in betas]
    assert gaps[0] > gaps[1] > gaps[2]
    assert all(gap <= b / 2 + 1e-7 for gap, b in zip(gaps, betas))  # |smooth_l1 - l1| <= beta/2 per element


# --- structural: SSIM and MS-SSIM -----------------------------------------------------------


def _noisy_pair(size=48, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_ssim_loss_is_zero_for_identical_images_and_matches_skimage():
    import numpy as np
    from skimage.metrics import structural_similarity

    from srloss.losses.structural import SSIMLoss

    x, y = _noisy_pair()
    assert float(SSIMLoss()(x, x)) == pytest.approx(0.0, abs=1e-6)
    reference = np.mean(
        [
            structural_similarity(
                x[i].numpy(),
                y[i].numpy(),
                channel_axis=0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
            )
            for i in range(2)
        ]
    )
    assert 1 - float(SSIMLoss()(x, y)) == pytest.approx(reference, abs=1e-5)


def test_ms_ssim_matches_piq_and_rejects_small_images():
    import piq

    from srloss.losses.structural import MSSSIMLoss

    x, y = _noisy_pair(size=176)  # the smallest size 5 levels accept: 11 * 2**4
    assert float(MSSSIMLoss()(x, x)) == pytest.approx(0.0, abs=1e-6)
    reference = float(piq.multi_scale_ssim(x, y, data_range=1.0, kernel_size=11, kernel_sigma=1.5))
    assert 1 - float(MSSSIMLoss()(x, y)) == pytest.approx(reference, abs=1e-5)
    small, _ = _noisy_pair(size=64)
    with pytest.raises(ValueError, match="64x64 are too small: 5 levels with a 11-pixel window .* at least 176 pixels"):
        MSSSIMLoss()(small, small)
    assert float(MSSSIMLoss(levels=3)(small, small)) == pytest.approx(0.0, abs=1e-6)  # 11 * 2**2 = 44 <= 64


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik 2003


def _ssim_maps(a, b):
    """Float64 means of the SSIM and contrast-structure maps (valid region, Gaussian 11/1.5, K = 0.01, 0.03)."""
    import numpy as np
    from scipy.signal import correlate2d

    t = np.arange(11) - 5.0
    g = np.exp(-(t**2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    f = lambda z: correlate2d(z, win, mode="valid")  # noqa: E731
    mx, my = f(a), f(b)
    sxx, syy, sxy = f(a * a) - mx**2, f(b * b) - my**2, f(a * b) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    return float((lum * cs).mean()), float(cs.mean())


def _ms_ssim_reference(a, b, levels=5, piq_padding=False):
    """Float64 MS-SSIM of one channel, the formula as the authors' msssim.m computes it:
    prod_{j<M} cs_j^{w_j} * ssim_M^{w_M}, 2x2 box filter + subsampling between scales ('symmetric'
    padding of an odd side at its end: imfilter(..., 'symmetric', 'same') then (1:2:end)), the
    published weights (rescaled to sum 1 for fewer than 5 levels)."""
    import numpy as np

    w = np.array(MS_SSIM_WEIGHTS[:levels])
    w = w if levels == 5 else w / w.sum()
    factors = []
    for j in range(levels):
        ssim, cs = _ssim_maps(a, b)
        factors.append(ssim if j == levels - 1 else cs)
        if j < levels - 1:
            odd = max(a.shape[0] % 2, a.shape[1] % 2)
            pads = [(odd, 0) if piq_padding else (0, n % 2) for n in a.shape]
            a, b = (np.pad(z, pads, mode="edge") for z in (a, b))
            a, b = ((z[0::2, 0::2] + z[1::2, 0::2] + z[0::2, 1::2] + z[1::2, 1::2]) / 4 for z in (a, b))
    return float(np.prod(np.array(factors) ** w))


def _ms_ssim_reference_batch(x, y, levels=5, piq_padding=False):
    """Mean over images and channels of the per-channel reference."""
    import numpy as np

    return float(
        np.mean(
            [
                _ms_ssim_reference(x[i, c].double().numpy(), y[i, c].double().numpy(), levels, piq_padding)
                for i in range(x.shape[0])
                for c in range(x.shape[1])
            ]
        )
    )


@pytest.mark.parametrize("size, levels", [(176, 5), (177, 5), (200, 5), (250, 5), (61, 3)])
def test_ms_ssim_loss_equals_the_float64_reference(size, levels):
    from srloss.losses.structural import MSSSIMLoss

    x, y = _noisy_pair(size=size)
    x, y = x.double(), y.double()
    ours = 1 - float(MSSSIMLoss(levels=levels)(x, y))
    assert ours == pytest.approx(_ms_ssim_reference_batch(x, y, levels), abs=1e-6)


def test_piq_differs_from_the_reference_only_by_its_padding_of_odd_sides():
    """piq pads an odd side at its start before pooling: equal to the reference when every scale is even."""
    import piq

    for size in (176, 192):  # 176 -> 88 -> 44 -> 22 -> 11: every pooled side is even
        x, y = (t.double() for t in _noisy_pair(size=size))
        theirs = float(piq.multi_scale_ssim(x, y, data_range=1.0))
        assert theirs == pytest.approx(_ms_ssim_reference_batch(x, y), abs=1e-9)
    x, y = (t.double() for t in _noisy_pair(size=200))  # 200 -> 100 -> 50 -> 25 (odd) -> 13 or 12
    theirs, reference = float(piq.multi_scale_ssim(x, y, data_range=1.0)), _ms_ssim_reference_batch(x, y)
    assert abs(theirs - reference) > 2e-4  # a real difference (1 - MS-SSIM moves by about 2 %) ...
    assert theirs == pytest.approx(_ms_ssim_reference_batch(x, y, piq_padding=True), abs=1e-9)  # ... from padding alone


def test_ms_ssim_of_anti_correlated_images_keeps_a_finite_gradient():
    """A negative contrast-structure term is floored at 1e-8 (piq: relu, which gives 0 and no gradient)."""
    from srloss.losses.structural import MSSSIMLoss

    x, _ = _noisy_pair(size=176)
    sr = (1 - x).requires_grad_(True)  # structure inverted: cs < 0 at the finest scale
    loss = MSSSIMLoss()(sr, x)
    loss.backward()
    assert 0.99 < float(loss.detach()) <= 1.0
    assert torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0  # the other scales still train


# --- total variation ------------------------------------------------------------------------

IMG = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])  # dx: 1, 2; dy: 2, 3


@pytest.mark.parametrize(
    "options", [{"form": "l1"}, {"form": "l2"}, {"form": "beta", "beta": 1.0}, {"form": "beta", "beta": 3.0}]
)
def test_tv_of_a_constant_image_is_zero(options):
    from srloss.losses.regularizers import TVLoss

    assert float(TVLoss(**options)(torch.full((2, 3, 9, 7), 0.4), None)) == pytest.approx(0.0, abs=1e-5)


def test_tv_hand_computed():
    from srloss.losses.regularizers import TVLoss

    assert float(TVLoss(form="l1")(IMG, None)) == pytest.approx((1 + 2) / 2 + (2 + 3) / 2)
    assert float(TVLoss(form="l2")(IMG, None)) == pytest.approx((1 + 4) / 2 + (4 + 9) / 2)
    assert float(TVLoss(form="beta", beta=1.0)(IMG, None)) == pytest.approx(
        math.sqrt(1 + 4)
    )  # only pixel (0, 0) has both neighbours


def test_tv_option_errors():
    from srloss.losses.regularizers import TVLoss

    with pytest.raises(ValueError, match="valid choices: l1, l2, beta"):
        TVLoss(form="l3")
    with pytest.raises(ValueError, match="only used with form 'beta'"):
        TVLoss(form="l1", beta=2.0)


# --- Gaussian-weighted L1 (Zhao et al. 2017) -------------------------------------------------


def _paper_centre_value(err: torch.Tensor, sigma: float) -> float:
    """The authors' per-patch value: sum of |error| x the normalised Gaussian window of the patch's size."""
    from srloss.ops.kernels import gaussian_window

    n, c, side, _ = err.shape
    return float((err.abs() * gaussian_window(side, sigma)).sum() / (n * c))


def test_gaussian_l1_on_a_window_sized_patch_is_the_papers_centre_pixel_value():
    from srloss.losses.pixel import GaussianL1Loss

    torch.manual_seed(0)
    sr, hr = torch.rand(2, 3, 49, 49, dtype=torch.float64), torch.rand(2, 3, 49, 49, dtype=torch.float64)
    ours = float(GaussianL1Loss()(sr, hr))  # defaults: sigma 8, window 49
    assert ours == pytest.approx(_paper_centre_value(sr - hr, 8.0), rel=1e-6)
    assert ours != pytest.approx(float(torch.mean(torch.abs(sr - hr))), rel=1e-3)  # centre-weighted, not L1


def test_gaussian_l1_on_a_larger_patch_averages_every_valid_centre():
    from srloss.losses.pixel import GaussianL1Loss

    torch.manual_seed(1)
    sr, hr = torch.rand(1, 2, 12, 10, dtype=torch.float64), torch.rand(1, 2, 12, 10, dtype=torch.float64)
    err = sr - hr
    centres = [_paper_centre_value(err[..., i : i + 5, j : j + 5], 1.5) for i in range(8) for j in range(6)]
    assert float(GaussianL1Loss(sigma=1.5, window=5)(sr, hr)) == pytest.approx(sum(centres) / len(centres), rel=1e-6)
    assert float(GaussianL1Loss()(torch.full((1, 3, 64, 64), 0.3), torch.full((1, 3, 64, 64), 0.1))) == pytest.approx(
        0.2, rel=1e-5
    )  # a constant error is weighted to itself


def test_gaussian_l1_gradient_is_l1s_in_the_interior_and_tapers_at_the_border():
    from srloss.losses.pixel import GaussianL1Loss

    sr = torch.full((1, 1, 60, 60), 0.5, dtype=torch.float64, requires_grad=True)
    GaussianL1Loss(sigma=2.0, window=13)(sr, torch.zeros_like(sr)).backward()
    grad = sr.grad[0, 0]
    valid = (60 - 12) ** 2
    assert float(grad[30, 30]) == pytest.approx(1 / valid, rel=1e-6)  # interior: sign(e) / N, as L1 on the valid area
    assert 0 < float(grad[0, 0]) < 0.1 / valid  # the corner is in one window only, at its lowest weight


def test_zhao_mix_is_the_weighted_sum_of_ms_ssim_and_gaussian_l1():
    from srloss.losses.pixel import GaussianL1Loss
    from srloss.losses.structural import MSSSIMLoss

    x, y = _noisy_pair(size=176)
    mix = build_loss([{"name": "ms_ssim", "weight": 0.84}, {"name": "gaussian_l1", "weight": 0.16}])
    total, values = mix(x, y)
    expected = 0.84 * float(MSSSIMLoss()(x, y)) + 0.16 * float(GaussianL1Loss()(x, y))
    assert float(total) == pytest.approx(expected, rel=1e-6) and set(values) == {"ms_ssim", "gaussian_l1"}


def test_gaussian_l1_rejects_patches_smaller_than_its_window():
    from srloss.losses.pixel import GaussianL1Loss
    from srloss.options import OptionError

    with pytest.raises(OptionError, match="a 49-pixel window does not fit in 48-pixel patches"):
        GaussianL1Loss.check_patch_size(GaussianL1Loss.check_options(), 48)
    with pytest.raises(ValueError, match="at least 49 pixels"):
        GaussianL1Loss()(torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48))


# --- downsampled-space consistency ----------------------------------------------------------


def test_downsampled_loss_is_zero_when_sr_downscales_to_lr():
    from srloss.losses.consistency import DownsampledLoss

    sr = torch.rand(2, 3, 24, 20)
    for scale in (2, 4):
        lr = imresize(sr, 1 / scale)
        assert float(DownsampledLoss()(sr, None, {"lr": lr})) == pytest.approx(0.0, abs=1e-10)
        assert float(DownsampledLoss()(sr, None, {"lr": lr + 0.1})) == pytest.approx(0.01, rel=1e-4)
    frames = torch.rand(2, 5, 3, 12, 10)
    frames[:, 2] = imresize(sr, 0.5)  # multi-frame LR: the reference frame counts
    assert float(DownsampledLoss()(sr, None, {"lr": frames})) == pytest.approx(0.0, abs=1e-10)


def test_downsampled_loss_needs_lr_and_integer_scale():
    from srloss.losses.consistency import DownsampledLoss

    with pytest.raises(KeyError, match="no 'lr'"):
        DownsampledLoss()(torch.rand(1, 3, 8, 8), None, {})
    with pytest.raises(ValueError, match="not an integer multiple"):
        DownsampledLoss()(torch.rand(1, 3, 8, 9), None, {"lr": torch.rand(1, 3, 4, 4)})


def test_downsampled_loss_gradient_reaches_sr():
    from srloss.losses.consistency import DownsampledLoss

    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    DownsampledLoss()(sr, None, {"lr": torch.rand(1, 3, 8, 8)}).backward()
    assert sr.grad.abs().sum() > 0


# --- texture: Gram matrices -----------------------------------------------------------------


def test_gram_matrix_hand_computed():
    from srloss.losses.texture import gram_matrix

    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2 channels, 1x2 positions
    expected = torch.tensor([[1 + 4, 3 + 8], [3 + 8, 9 + 16]]) / (2 * 1 * 2)
    assert torch.allclose(gram_matrix(f)[0], expected)
    shuffled = f[..., [1, 0]]  # Gram ignores where features are
    assert torch.allclose(gram_matrix(shuffled), gram_matrix(f))


# --- perceptual and texture losses (offline: random backbones, or fake checkpoint files) -----


def _frozen_and_grad_flows(term, sr, hr, context=None):
    sr = sr.clone().requires_grad_(True)
    term.train()  # a training loop may call this; extractors must stay frozen and in eval mode
    term(sr, hr, context or {}).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    params = list(term.parameters())
    assert params and all(not p.requires_grad and p.grad is None for p in params)
    assert not any(m.training for m in term.modules() if m is not term)  # the extractor and its layers


@pytest.mark.parametrize(
    "term",
    [
        {"name": "vgg", "layers": ["relu2_2", "conv3_1"]},
        {"name": "resnet", "arch": "resnet18", "stages": ["layer1", "layer2"]},
        {"name": "lpips", "net": "alex"},
        {"name": "gram", "layers": ["relu1_1", "relu2_1"]},
    ],
)
def test_backbone_terms_run_offline_with_random_weights(term):
    loss = build_loss([{**term, "backbone_weights": "random"}])
    x, y = _noisy_pair(size=32)
    module = loss.terms[0]
    assert float(module(x, x, {})) == pytest.approx(0.0, abs=1e-6)
    assert float(module(x, y, {})) > 0
    _frozen_and_grad_flows(module, x, y)
    assert loss.labels == [term["name"] + "-random"]  # logs never show it as the real loss


def test_random_backbone_is_seeded_and_leaves_the_global_rng_alone():
    from srloss.losses.perceptual import ResNetFeatureLoss

    x, y = _noisy_pair(size=32)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = ResNetFeatureLoss(stages="layer1", backbone_weights="random", backbone_seed=1)
    assert torch.equal(torch.rand(3), expected_next)
    b = ResNetFeatureLoss(stages="layer1", backbone_weights="random", backbone_seed=1)
    c = ResNetFeatureLoss(stages="layer1", backbone_weights="random", backbone_seed=2)
    assert float(a(x, y)) == float(b(x, y)) != float(c(x, y))


def test_vgg_layer_names_follow_torchvision_indices():
    from srloss.losses.backbones import VGG19_LAYERS

    assert len(VGG19_LAYERS) == 37  # torchvision's vgg19().features
    assert VGG19_LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert VGG19_LAYERS.index("relu2_2") == 8 and VGG19_LAYERS.index("conv5_4") == 34 and VGG19_LAYERS[-1] == "pool5"


def test_feature_network_is_truncated_at_the_deepest_layer():
    from srloss.losses.perceptual import ResNetFeatureLoss, VGGFeatureLoss

    assert len(VGGFeatureLoss(layers="relu2_2", backbone_weights="random").extractor.body) == 9
    assert len(VGGFeatureLoss(layers={"relu1_1": 1, "conv5_4": 1}, backbone_weights="random").extractor.body) == 35
    assert [
        n for n, _ in ResNetFeatureLoss(stages="layer2", backbone_weights="random").extractor.body.named_children()
    ] == ["stem", "layer1", "layer2"]


def test_terms_with_the_same_backbone_share_it():
    loss = build_loss(
        [
            {"name": "vgg", "layers": "relu2_2", "backbone_weights": "random"},
            {"name": "gram", "layers": "relu2_1", "backbone_weights": "random"},
        ]
    )
    vgg, gram = loss.terms
    assert vgg.extractor.body.conv1_1 is gram.extractor.body.conv1_1


@pytest.mark.parametrize(
    "cls_name, options, message",
    [
        (
            "VGGFeatureLoss",
            {"layers": "relu5_5"},
            "option layers: unknown layer 'relu5_5'; valid choices: conv1_1, relu1_1",
        ),
        ("VGGFeatureLoss", {"criterion": "l3"}, "option criterion: 'l3' is not a choice; valid choices: mse, l1"),
        ("VGGFeatureLoss", {"backbone_weights": "imagenet21k"}, "valid choices: imagenet, random"),
        ("ResNetFeatureLoss", {"arch": "resnet34"}, "valid choices: resnet18, resnet50"),
        ("ResNetFeatureLoss", {"stages": ["layer5"]}, "valid choices: stem, layer1, layer2, layer3, layer4"),
        ("LPIPSLoss", {"net": "squeeze"}, "valid choices: alex, vgg"),
    ],
)
def test_backbone_option_errors_list_the_choices(cls_name, options, message):
    from srloss.losses import perceptual

    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(perceptual, cls_name)(**{**options, "backbone_weights": options.get("backbone_weights", "random")})


def test_training_job_runs_new_models_and_terms_offline_and_records_random_backbone(tmp_path):
    """`srloss train` (what the train rule calls) with SRResNet and a random-backbone VGG loss."""
    import csv
    import json

    from srloss.cli import main
    from srloss.data.prepare import prepare
    from srloss.study import Run, Study, to_json

    dataset = {
        "source": "skimage",
        "splits": {"train": ["rocket"], "val": ["coffee"], "test": ["chelsea"]},
        "patch_size": 32,
        "stride": 64,
    }
    config = {
        "study": "t",
        "datasets": {"d": dataset},
        "models": {"srresnet": {"arch": "srresnet", "options": {"nf": 8, "blocks": 1}}},
        "losses": {
            "mix": {
                "terms": [
                    {"name": "vgg", "layers": "relu1_2", "backbone_weights": "random"},
                    {"name": "downsampled", "weight": 0.5},
                    {"name": "tv", "weight": 0.01},
                    {"name": "gaussian_l1", "weight": 0.1, "sigma": 1.5, "window": 9},
                ]
            }
        },
        "scales": [2],
        "seeds": [0],
        "training": {
            "steps": 2,
            "batch_size": 2,
            "lr": 1e-4,
            "betas": [0.9, 0.999],
            "val_every": 2,
            "threads": 1,
            "device": "cpu",
        },
    }
    shards = {split: tmp_path / f"{split}.h5" for split in ("train", "val", "test")}
    prepare(dataset, 2, shards)
    spec = Study(config).run_spec(Run("d", "srresnet", "mix", 2, 0))
    out = {k: tmp_path / f"{k}" for k in ("model.pt", "history.csv", "run.json")}
    assert (
        main(
            [
                "train",
                "--spec",
                to_json(spec),
                "--train-shard",
                str(shards["train"]),
                "--val-shard",
                str(shards["val"]),
                "--model",
                str(out["model.pt"]),
                "--history",
                str(out["history.csv"]),
                "--record",
                str(out["run.json"]),
            ]
        )
        == 0
    )
    record = json.loads(out["run.json"].read_text())
    assert record["spec"]["random_backbone"] is True
    with open(out["history.csv"]) as f:
        header = next(csv.reader(f))
    assert {"vgg-random", "downsampled", "tv", "gaussian_l1"} <= set(header)


# --- the LossTerm protocol ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOSS_TERMS))
def test_every_term_declares_documented_options_whose_defaults_pass(name):
    from torch import nn

    from srloss.losses.base import LossTerm

    cls = LOSS_TERMS[name]
    assert issubclass(cls, LossTerm) and cls.__doc__
    defaults = cls.check_options()  # every default passes its own check
    assert list(defaults) == cls.option_names()
    for option in cls.options:
        assert option.doc and not hasattr(nn.Module, option.name), (name, option.name)  # stored as self.<name>


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("charbonnier", {"eps": -1}, "option eps: expected a number > 0, got -1"),
        ("charbonnier", {"eps": "small"}, "option eps: expected a number > 0, got 'small'"),
        ("huber", {"delta": 0}, "option delta: expected a number > 0, got 0"),
        ("ms_ssim", {"levels": 9}, "option levels: expected an integer between 1 and 5, got 9"),
        ("ms_ssim", {"levels": 2.5}, "option levels: expected an integer between 1 and 5, got 2.5"),
        ("ssim", {"window": 10}, "option window: the window must have an odd size (a centre pixel), got 10"),
        ("adversarial", {"gp_weight": -1}, "option gp_weight: expected a number >= 0, got -1"),
        ("adversarial", {"steps_per_g": 0}, "option steps_per_g: expected an integer >= 1 (or null), got 0"),
        ("adversarial", {"clip": 0.01}, "option clip: weight clipping is only used by kind 'wgan' (kind is 'ragan')"),
        ("adversarial", {"kind": "wgan", "clip": -1}, "option clip: expected a number > 0 (or null), got -1"),
        ("gaussian_l1", {"window": 48}, "option window: the window must have an odd size (a centre pixel), got 48"),
        ("gaussian_l1", {"sigma": 0}, "option sigma: expected a number > 0, got 0"),
        (
            "adversarial",
            {"discriminator_options": {"norm": "layer"}},
            "option discriminator_options.norm: 'layer' is not a choice; valid choices: batch, spectral, none",
        ),
        (
            "vgg",
            {"layers": {"relu1_1": float("nan")}},
            "option layers: weight of 'relu1_1' must be a finite number >= 0",
        ),
        ("charbonnier", {"epsilon": 1}, "option epsilon: unknown option for CharbonnierLoss; valid options: eps"),
        ("mse", {"eps": 1}, "option eps: unknown option for MSELoss; valid options: (none)"),
    ],
)
def test_check_options_names_the_option_the_value_and_what_is_expected(name, options, message):
    with pytest.raises(ValueError) as err:
        LOSS_TERMS[name].check_options(**options)
    assert str(err.value).startswith(message)
    with pytest.raises(ValueError, match=re.escape(message)):  # the constructor applies the same check
        build_loss([{"name": name, **options}])


def test_a_new_term_is_one_registered_class():
    """Options, backbones and the config check all come from the class itself."""
    from test_config import demo_config

    from srloss.losses import required_backbones
    from srloss.losses.backbones import BACKBONE_OPTIONS, BackboneTerm
    from srloss.options import Option
    from srloss.study import ConfigError, Study

    class ScaledL1(BackboneTerm):
        """A made-up term on a VGG19 backbone (the backbone is declared, never loaded here)."""

        backbone = "vgg19"
        options = (Option("gain", 2.0, "factor on L1", gt=0), *BACKBONE_OPTIONS)

        def forward(self, sr, hr, context=None):
            return self.gain * torch.mean(torch.abs(sr - hr))

    with LOSS_TERMS.registered("scaled_l1", ScaledL1):  # one module would do this with the decorator
        loss = build_loss([{"name": "scaled_l1", "gain": 3.0, "backbone_weights": "random"}])
        assert loss.labels == ["scaled_l1-random"] and float(loss(SR, HR)[0]) == pytest.approx(
            3 * float(L1Loss()(SR, HR))
        )
        assert required_backbones([{"name": "scaled_l1"}]) == ["vgg19"]
        assert required_backbones([{"name": "scaled_l1", "backbone_weights": "random"}]) == []
        config = demo_config()
        config["losses"] = {"s": {"terms": [{"name": "scaled_l1"}]}}
        assert Study(config).loss_backbones("s") == ["vgg19"]
        config["losses"]["s"]["terms"][0]["gain"] = -1
        with pytest.raises(ConfigError, match=r"losses\.s\.terms\[0\]\.gain: expected a number > 0, got -1"):
            Study(config)


# --- precision: terms declared fp32 stay fp32 under bf16 autocast --------------------------------

FP32_TERMS = sorted(name for name in LOSS_TERMS if LOSS_TERMS[name].precision == "fp32")


def _near_pair(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth HR image and an SR close to it (the regime late in training, where the loss is small)."""
    g = torch.Generator().manual_seed(0)
    hr = torch.nn.functional.interpolate(torch.rand(2, 3, side // 8, side // 8, generator=g), size=side, mode="bicubic")
    hr = hr.clamp(0, 1)
    sr = (hr + 0.01 * torch.randn(hr.shape, generator=g)).clamp(0, 1)
    return sr, hr


def _agreement(loss, sr: torch.Tensor, hr: torch.Tensor) -> tuple[float, float]:
    """(relative difference of the values, cosine of the gradients), bf16 CPU autocast vs fp32."""
    return autocast_agreement(loss, sr, hr, {"lr": imresize(hr, 0.5)})


@pytest.mark.parametrize("name", FP32_TERMS)
def test_fp32_terms_under_bf16_autocast_match_fp32(name):
    """Value within 1e-3 relative and gradient cosine > 0.999 against the same loss without autocast
    (CPU autocast stands in for CUDA's: both run convolutions and matmuls in bf16)."""
    assert {"mse", "l1", "ssim", "ms_ssim"} <= set(FP32_TERMS)
    sr, hr = _near_pair(192 if name == "ms_ssim" else 64)  # each window fits
    loss = build_loss([{"name": name}])
    rel, cosine = _agreement(loss, sr, hr)
    assert rel <= 1e-3 and cosine > 0.999, (name, rel, cosine)


def test_ssim_computed_in_bf16_is_wrong_which_is_why_it_is_fp32():
    """The failure the fp32 declaration prevents: SSIM's convolutions in bf16 (the term called
    directly, outside ``CompositeLoss``) are far from fp32."""
    sr, hr = _near_pair(48)
    term = LOSS_TERMS["ssim"]()
    rel, cosine = _agreement(term, sr, hr)
    assert rel > 1e-3 or cosine < 0.999, (rel, cosine)


def test_only_network_terms_run_under_autocast():
    autocast = sorted(name for name in LOSS_TERMS if LOSS_TERMS[name].precision == "autocast")
    assert set(autocast) == {"adversarial", "gram", "lpips", "resnet", "vgg"}
    assert set(autocast) | set(FP32_TERMS) == set(LOSS_TERMS)
