import math

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srloss.metrics import (
    LPIPS,
    FaceVerifier,
    MetricUnavailable,
    detail_crop,
    find_column,
    gradient_magnitude,
    gradient_magnitude_map,
    mse,
    psnr,
    sharpness_difference,
    sharpness_split,
    ssim,
)
from srloss.ops import crop_border, imresize, rgb_to_y


def _bicubic_round_trip(img: np.ndarray, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    hr = torch.from_numpy(img.transpose(2, 0, 1).copy())
    sr = imresize(imresize(hr, 1 / scale), scale)
    return sr, hr


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Float64 re-implementation of Wang et al.'s ssim.m (valid region, 11x11 Gaussian, sigma 1.5)."""
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda z: correlate2d(z, w, mode="valid")  # noqa: E731
    mx, my = f(a), f(b)
    sx, sy, sxy = f(a * a) - mx**2, f(b * b) - my**2, f(a * b) - mx * my
    return float(np.mean(((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sx + sy + c2))))


def test_y_channel_matches_matlab_rgb2ycbcr():
    img = torch.tensor([[[255.0]], [[255.0]], [[255.0]]])  # white
    assert math.isclose(float(rgb_to_y(img)), 235.0, abs_tol=1e-9)
    assert math.isclose(float(rgb_to_y(torch.zeros(3, 1, 1))), 16.0, abs_tol=1e-12)


def test_psnr_matches_skimage(astronaut):
    sr, hr = _bicubic_round_trip(astronaut, 4)
    ours = psnr(crop_border(sr, 4), crop_border(hr, 4))
    ref = peak_signal_noise_ratio(crop_border(hr, 4).numpy(), crop_border(sr, 4).numpy(), data_range=255)
    assert abs(ours - ref) <= 1e-6
    assert psnr(hr, hr) == math.inf


def test_mse_hand_computed():
    a = torch.tensor([[0, 10], [20, 30]], dtype=torch.uint8)
    b = torch.tensor([[0, 12], [20, 26]], dtype=torch.uint8)
    assert mse(a, b) == (4 + 16) / 4


def test_ssim_matches_reference_and_skimage(astronaut):
    sr, hr = _bicubic_round_trip(astronaut, 4)
    y_sr, y_hr = rgb_to_y(crop_border(sr, 4)), rgb_to_y(crop_border(hr, 4))
    ours = ssim(y_sr, y_hr)
    assert abs(ours - _ssim_reference(y_sr.numpy(), y_hr.numpy())) <= 1e-6
    sk = structural_similarity(
        y_hr.numpy(), y_sr.numpy(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert abs(ours - sk) <= 1e-6
    assert 0.80 < ours < 0.90  # x4 bicubic on astronaut (Y, border 4): about 0.84
    assert math.isclose(ssim(y_hr, y_hr), 1.0, abs_tol=1e-12)


def test_the_pixel_metrics_rank_scales(astronaut):
    from srloss.evaluation.measure import MetricSet

    metric_set = MetricSet({"metrics": ["psnr_rgb", "psnr_y", "ssim_y", "mse"]}, torch.device("cpu"))
    m2 = metric_set(*_bicubic_round_trip(astronaut, 2), scale=2)
    m4 = metric_set(*_bicubic_round_trip(astronaut, 4), scale=4)
    assert list(m2) == ["psnr_rgb", "psnr_y", "ssim_y", "mse"]
    assert m2["psnr_y"] > m4["psnr_y"] and m2["ssim_y"] > m4["ssim_y"] and m2["mse"] < m4["mse"]
    sr, hr = (crop_border(t, 2) for t in _bicubic_round_trip(astronaut, 2))  # the functions' values, unchanged
    assert m2["psnr_rgb"] == psnr(sr, hr) and m2["mse"] == mse(sr, hr)
    assert m2["psnr_y"] == psnr(rgb_to_y(sr), rgb_to_y(hr)) and m2["ssim_y"] == ssim(rgb_to_y(sr), rgb_to_y(hr))


def test_mismatched_shapes_are_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))


# --- sharpness -----------------------------------------------------------------------------------


def test_sharpness_difference_on_ramps_is_hand_computed():
    # Horizontal ramp with slope 10 grey levels/px: Sobel Gx = (1 + 2 + 1) * 2 * 10 = 80 everywhere.
    x = torch.arange(8, dtype=torch.float64)
    hr = (10 * x).repeat(8, 1)
    sr = (5 * x).repeat(8, 1)  # half the slope: half the gradient
    assert math.isclose(float(gradient_magnitude(hr)), 80.0, abs_tol=1e-12)
    assert math.isclose(sharpness_difference(sr, hr), 0.5, abs_tol=1e-12)  # positive = blurrier
    assert math.isclose(sharpness_difference(hr, sr), -1.0, abs_tol=1e-12)  # negative = sharper
    assert math.isnan(sharpness_difference(sr, torch.zeros(8, 8, dtype=torch.float64)))


def test_sharpness_sign_on_real_image(astronaut):
    sr, hr = _bicubic_round_trip(astronaut, 4)
    y_sr, y_hr = rgb_to_y(sr), rgb_to_y(hr)
    assert sharpness_difference(y_hr, y_hr) == 0.0
    assert 0.2 < sharpness_difference(y_sr, y_hr) < 0.9  # bicubic x4 loses detail


def test_sharpness_is_the_mean_magnitude_not_tenengrads_squared_magnitude():
    # Left half a ramp of slope 1 (|G| = 8), right half of slope 3 (|G| = 24): the mean magnitude is
    # the mean of the two, Tenengrad (mean squared magnitude) would weigh the steep half 9 times more.
    row = torch.cat([torch.arange(0, 6, dtype=torch.float64), 5 + 3 * torch.arange(1, 7, dtype=torch.float64)])
    img = row.repeat(6, 1)
    mags = gradient_magnitude_map(img)
    assert mags[0, 0] == 8.0 and mags[0, -1] == 24.0
    assert float(gradient_magnitude(img)) == pytest.approx(float(mags.mean()))
    assert float(gradient_magnitude(img)) != pytest.approx(float(torch.sqrt((mags**2).mean())))


def test_sharpness_split_parts_are_hand_computed_and_sum_to_the_difference():
    x = torch.arange(8, dtype=torch.float64)
    hr = (10 * x).repeat(8, 1)  # |G| = 80 everywhere
    sr = hr.clone()
    sr[:, :4] = 5 * x[:4]  # left: half the slope (loses 40 per pixel in the valid columns 0..1)
    sr[:, 4:] = 15 + 20 * (x[4:] - 3)  # right: twice the slope (gains 80 per pixel in columns 3..5)
    lost, added = sharpness_split(sr, hr)
    d = gradient_magnitude_map(sr) - gradient_magnitude_map(hr)
    assert lost == pytest.approx(float(torch.relu(-d).mean()) / 80) and lost > 0
    assert added == pytest.approx(float(torch.relu(d).mean()) / 80) and added > 0
    assert lost - added == pytest.approx(sharpness_difference(sr, hr), abs=1e-12)
    assert sharpness_split(hr, hr) == (0.0, 0.0)
    assert all(math.isnan(v) for v in sharpness_split(sr, torch.zeros(8, 8, dtype=torch.float64)))


def test_noise_on_a_blurred_image_cancels_in_the_signed_difference_but_not_in_the_split(astronaut):
    """A blurry, noisy reconstruction can score "as sharp as the original": the split shows both faults."""
    sr, hr = _bicubic_round_trip(astronaut, 4)
    y_blur, y_hr = rgb_to_y(sr).double(), rgb_to_y(hr).double()
    noise = torch.randn(y_hr.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lo, hi = 0.0, 60.0  # noise level (grey levels) at which the added gradient offsets the blur
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sharpness_difference(y_blur + mid * noise, y_hr) > 0 else (lo, mid)
    noisy = y_blur + lo * noise
    assert abs(sharpness_difference(noisy, y_hr)) < 1e-3  # "as sharp as the ground truth"
    lost, added = sharpness_split(noisy, y_hr)
    blur_lost, blur_added = sharpness_split(y_blur, y_hr)
    assert lost > 0.2 and added > 0.2 and lost - added == pytest.approx(sharpness_difference(noisy, y_hr), abs=1e-9)
    assert blur_lost > 0.3 and blur_added < blur_lost / 2  # without noise: mostly lost (0.43; ringing adds 0.14)
    assert added > 2 * blur_added  # the noise shows as added gradient (0.38)


def test_detail_crop_finds_the_textured_region():
    g = torch.Generator().manual_seed(0)
    img = torch.full((3, 128, 160), 128, dtype=torch.uint8)
    img[:, 64:96, 96:128] = torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8)
    top, left, side = detail_crop(img, 32)
    assert side == 32 and (top, left) == (64, 96)
    assert detail_crop(img, 500)[2] == 128  # never larger than the image


# --- LPIPS ---------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # lpips passes torchvision the deprecated `pretrained=`
def test_lpips_equals_the_lpips_package(astronaut):
    import lpips

    sr, hr = _bicubic_round_trip(astronaut, 4)
    sr, hr = sr[:, :128, :128], hr[:, :128, :128]
    torch.manual_seed(0)
    ours = LPIPS("alex", random_backbone=True)
    torch.manual_seed(0)
    ref_model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    with torch.no_grad():
        ref = float(ref_model(sr[None].float() / 127.5 - 1, hr[None].float() / 127.5 - 1))
        ref01 = float(ref_model(sr[None].float() / 255, hr[None].float() / 255, normalize=True))
    value = float(ours(sr, hr)[0])
    assert ours.name == "lpips_alex_random_backbone"
    assert "RANDOM BACKBONE" in find_column(ours.name).header
    assert value > 0 and abs(value - ref) <= 1e-6 and abs(value - ref01) <= 1e-6
    assert float(ours(hr, hr)[0]) == 0.0


def test_lpips_without_cached_weights_is_missing_not_random(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MetricUnavailable, match="alexnet-owt-7be5be79.pth"):
        LPIPS("alex")
    from srloss.evaluation.measure import DEFAULT_EVALUATION, MetricSet

    metric_set = MetricSet(DEFAULT_EVALUATION, torch.device("cpu"))
    lpips = next(m for m in metric_set.metrics if m.name == "lpips")
    assert set(metric_set.missing) == {"lpips_alex", "lpips_vgg"} and not lpips.models
    img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    row = metric_set(img, img, 2)
    assert math.isnan(row["lpips_alex"]) and math.isnan(row["lpips_vgg"]) and row["psnr_y"] == math.inf


# --- failed face recognitions (dlib) -------------------------------------------------------------


@pytest.fixture(scope="module")
def verifier():
    return FaceVerifier(threshold=0.6)


def test_ffr_keeps_identity_under_x2_bicubic(astronaut, verifier):
    sr, hr = _bicubic_round_trip(astronaut, 2)
    out = verifier.compare(sr, hr)
    assert out["gt_face"] == 1 and out["ffr"] == 0 and out["ffr_no_face"] == 0
    assert 0 < out["face_distance"] < 0.4  # about 0.2


def test_ffr_counts_detection_failure_on_destroyed_image(astronaut, verifier):
    hr = torch.from_numpy(astronaut.transpose(2, 0, 1).copy())
    destroyed = imresize(imresize(hr, 1 / 16), 16)  # x16 bicubic round trip: no face left
    out = verifier.compare(destroyed, hr)
    assert out["gt_face"] == 1 and out["ffr"] == 1 and out["ffr_no_face"] == 1 and out["ffr_mismatch"] == 0
    assert math.isnan(out["face_distance"])


def test_ffr_excludes_ground_truth_without_face(verifier):
    from skimage import data

    hr = torch.from_numpy(data.chelsea().transpose(2, 0, 1).copy())  # a cat
    out = verifier.compare(hr, hr)
    assert out["gt_face"] == 0 and all(
        math.isnan(out[k]) for k in ("ffr", "ffr_no_face", "ffr_mismatch", "face_distance")
    )


def test_psnr_ssim_match_piq_where_conventions_match(astronaut):
    import piq

    sr, hr = _bicubic_round_trip(astronaut, 4)
    sr_c, hr_c = crop_border(sr, 4), crop_border(hr, 4)
    ref_psnr = float(piq.psnr(sr_c[None].double(), hr_c[None].double(), data_range=255.0))
    # piq adds eps = 1e-8 to the MSE of [0, 1] images (1.5e-5 dB here); remove that, the rest agrees.
    mse01 = mse(sr_c, hr_c) / 255**2
    assert abs(psnr(sr_c, hr_c) - ref_psnr - 10 * math.log10(1 + 1e-8 / mse01)) <= 1e-9
    y_sr, y_hr = rgb_to_y(sr_c), rgb_to_y(hr_c)
    # piq's ssim average-pools images larger than 256 px unless downsample=False.
    ref_ssim = float(
        piq.ssim(
            y_sr[None, None],
            y_hr[None, None],
            data_range=255.0,
            downsample=False,
            kernel_size=11,
            kernel_sigma=1.5,
            k1=0.01,
            k2=0.03,
        )
    )
    assert abs(ssim(y_sr, y_hr) - ref_ssim) <= 1e-6


# --- layout: one job per module, the public names importable from srloss.metrics --------------


def test_public_names_stay_importable_from_srloss_metrics(monkeypatch, tmp_path):
    import srloss.metrics as metrics
    from srloss import weights

    homes = {
        "psnr": ["psnr"],
        "mse": ["mse"],
        "ssim": ["ssim"],
        "sharpness": ["sharpness_difference", "sharpness_split", "gradient_magnitude", "gradient_magnitude_map"]
        + ["detail_crop"],
        "perceptual": ["LPIPS", "lpips_backbone_path"],
        "faces": ["FaceVerifier", "face_model_dir"],
        "base": ["Metric", "Column", "MetricUnavailable", "check_pair", "find_column"],
    }
    for module, names in homes.items():
        for name in names:
            value = getattr(metrics, name)
            assert getattr(value, "__module__", f"srloss.metrics.{module}") == f"srloss.metrics.{module}", name
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert metrics.lpips_backbone_path("vgg") == weights.weight_path("vgg16")  # the one table of weight files
