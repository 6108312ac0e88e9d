import math

import numpy as np
import pytest
import torch

from srloss.data.degrade import bicubic_downscale, cubic, imresize, modcrop, resize_matrix


def test_cubic_kernel_values():
    # Keys a=-0.5: k(0)=1, k(1)=0, k(2)=0, k(0.5)=0.5625, k(1.5)=-0.0625
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5])
    np.testing.assert_allclose(cubic(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625])


def test_resize_matrix_rows_sum_to_one():
    for n_in, n_out, s in [(10, 5, 0.5), (12, 3, 0.25), (5, 10, 2.0), (7, 21, 3.0)]:
        m = resize_matrix(n_in, n_out, s)
        assert m.shape == (n_out, n_in)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


def test_downscale_by_two_hand_computed():
    # x0.5 with antialiasing: kernel 0.5*k(0.5 d), output 1 sits at input position 1.5 (1-based),
    # taps at distances ±0.5, ±1.5, ±2.5, ±3.5 -> weights k(.25),k(.75),k(1.25),k(1.75) / 2, normalised.
    signal = np.arange(1, 9, dtype=np.float64)  # 1..8
    w = np.array([cubic(np.array([d]))[0] for d in (1.75, 1.25, 0.75, 0.25, 0.25, 0.75, 1.25, 1.75)])
    w /= w.sum()
    # symmetric padding: input positions -2..5 (1-based) map to 3,2,1,1,2,3,4,5
    taps = np.array([3, 2, 1, 1, 2, 3, 4, 5], dtype=np.float64)
    expected_first = float((w * taps).sum())
    out = imresize(torch.tensor(signal)[None, :], 0.5)[0]
    assert out.shape == (4,)
    assert math.isclose(float(out[0]), expected_first, rel_tol=0, abs_tol=1e-12)
    # away from the borders the kernel reproduces linear functions: output k (1-based) of a
    # ramp 1..16 sits at input position 2k - 0.5
    ramp = imresize(torch.arange(1, 17, dtype=torch.float64)[None, :], 0.5)[0]
    np.testing.assert_allclose(ramp[2:6].numpy(), [5.5, 7.5, 9.5, 11.5], atol=1e-12)


def test_upscale_interpolates_and_keeps_constants():
    img = torch.full((3, 5, 7), 0.25, dtype=torch.float64)
    up = imresize(img, 3)
    assert up.shape == (3, 15, 21)
    torch.testing.assert_close(up, torch.full_like(up, 0.25))


def test_output_size_is_ceil():
    img = torch.rand(1, 9, 11)
    assert imresize(img, 0.5).shape == (1, 5, 6)
    assert imresize(img, 1 / 3).shape == (1, 3, 4)


def test_uint8_round_trip_dtype_and_close_to_float(astronaut):
    hr = modcrop(astronaut, 4)
    lr = bicubic_downscale(hr, 4)
    assert lr.dtype == np.uint8 and lr.shape == (128, 128, 3)
    ref = imresize(torch.from_numpy(hr.transpose(2, 0, 1)).double(), 0.25).numpy().transpose(1, 2, 0)
    # uint8 is computed in float32: rounding can differ from float64 only at exact .5 ties
    assert np.abs(lr.astype(np.float64) - np.clip(ref, 0, 255)).max() <= 0.5 + 1e-4


def test_downscale_rejects_unaligned():
    with pytest.raises(ValueError, match="multiple of scale"):
        bicubic_downscale(np.zeros((10, 10, 3), np.uint8), 4)


def test_imresize_is_differentiable():
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    imresize(x, 0.5).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
