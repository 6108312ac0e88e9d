import math

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srloss.data.degrade import imresize
from srloss.metrics import crop_border, image_metrics, mse, psnr, rgb_to_y, ssim


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
    sk = structural_similarity(y_hr.numpy(), y_sr.numpy(), gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, data_range=255)
    assert abs(ours - sk) <= 1e-6
    assert 0.80 < ours < 0.90  # x4 bicubic on astronaut (Y, border 4): about 0.84
    assert math.isclose(ssim(y_hr, y_hr), 1.0, abs_tol=1e-12)


def test_image_metrics_ranks_scales(astronaut):
    m2 = image_metrics(*_bicubic_round_trip(astronaut, 2), scale=2)
    m4 = image_metrics(*_bicubic_round_trip(astronaut, 4), scale=4)
    assert set(m2) == {"psnr_rgb", "psnr_y", "ssim_y", "mse"}
    assert m2["psnr_y"] > m4["psnr_y"] and m2["ssim_y"] > m4["ssim_y"] and m2["mse"] < m4["mse"]


def test_mismatched_shapes_are_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))
