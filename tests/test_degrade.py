import math

import numpy as np
import pytest
import torch

from srloss.data.degrade import bicubic_downscale, modcrop
from srloss.ops.kernels import gaussian_kernel1d
from srloss.ops.resize import cubic, imresize, integer_factor, resize_matrix


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


# ----- fast integer-factor path, blur, noise, JPEG, bursts --------------------------------

from srloss.data.degrade import (  # noqa: E402
    add_noise,
    degradation_options,
    degrade,
    gaussian_blur,
    jpeg_compress,
    warp,
)


def _reference_resize(x: np.ndarray, scale: float) -> np.ndarray:
    """Float64 reference: the dense matrices applied with numpy, axis by axis."""
    h, w = x.shape[-2:]
    mh = resize_matrix(h, math.ceil(h * scale), scale)
    mw = resize_matrix(w, math.ceil(w * scale), scale)
    return mh @ x @ mw.T


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
@pytest.mark.parametrize("shape", [(3, 61, 77), (2, 1, 9, 20), (1, 130, 67)])
def test_strided_path_equals_float64_reference(factor, shape):
    x = np.random.default_rng(factor).random(shape)
    out = imresize(torch.from_numpy(x).float(), 1 / factor)
    ref = _reference_resize(x, 1 / factor)
    assert out.shape == ref.shape
    assert np.abs(out.double().numpy() - ref).max() < 1e-5


def test_x4_downscale_hand_computed_kernel():
    # x0.25: output 1 (1-based) sits at input position 2.5; taps at distances d = 2.5 - j for
    # j = -7..10 (18 taps) with weights k(d/4)/4, normalised; on an impulse at input position
    # 1 (index 0) the first output receives the mirrored taps j = 0 and j = 1 (both map to 1).
    w = {j: cubic(np.array([(2.5 - j) / 4]))[0] / 4 for j in range(-7, 11)}
    total = sum(w.values())
    signal = np.zeros(16)
    signal[0] = 1.0
    out = imresize(torch.tensor(signal, dtype=torch.float32)[None], 0.25)[0]
    assert math.isclose(float(out[0]), (w[0] + w[1]) / total, abs_tol=1e-6)
    # hand values: k(0.625)/4 and k(0.375)/4 with Keys a=-0.5
    k = lambda t: 1.5 * t**3 - 2.5 * t**2 + 1  # noqa: E731
    assert math.isclose(w[0], k(0.625) / 4, abs_tol=1e-12) and math.isclose(w[1], k(0.375) / 4, abs_tol=1e-12)


def test_strided_path_is_differentiable_and_matches_no_grad():
    x = torch.rand(2, 3, 32, 24, requires_grad=True)
    y = imresize(x, 0.25)
    y.square().sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(y.detach(), imresize(x.detach(), 0.25))
    # gradient of sum(y^2) equals M_h^T (2y) M_w
    mh = torch.from_numpy(resize_matrix(32, 8, 0.25)).float()
    mw = torch.from_numpy(resize_matrix(24, 6, 0.25)).float()
    torch.testing.assert_close(x.grad, mh.T @ (2 * y.detach()) @ mw, atol=1e-5, rtol=1e-4)


# ----- integer upscale: polyphase FIR ------------------------------------------------------

# Tolerance against the float64 reference on [0, 1] data per input dtype.
UPSCALE_TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize(
    "shape",
    # odd and even sides, non-square, several blocks with a partial last one (8 rows and 16
    # columns per block), channels and a batch axis, a single 2-D image
    [(3, 41, 70), (3, 40, 33), (2, 3, 9, 17), (1, 16, 32), (25, 14)],
)
def test_upscale_equals_float64_reference(factor, shape, dtype):
    x = np.random.default_rng(factor).random(shape)
    out = imresize(torch.from_numpy(x).to(dtype), factor)
    ref = _reference_resize(x, factor)
    assert out.dtype == dtype and out.shape == ref.shape
    assert np.abs(out.double().numpy() - ref).max() < UPSCALE_TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_upscale_small_sides_equal_float64_reference(factor, dtype):
    # 1-4 px sides: every tap of every output is mirrored, some more than once
    rng = np.random.default_rng(7)
    for h in range(1, 5):
        for w in range(1, 5):
            x = rng.random((2, h, w))
            out = imresize(torch.from_numpy(x).to(dtype), factor)
            ref = _reference_resize(x, factor)
            assert out.shape == (2, factor * h, factor * w)
            assert np.abs(out.double().numpy() - ref).max() < UPSCALE_TOL[dtype], (h, w)


def test_upscale_x2_impulse_response_is_keys_kernel():
    # x2: output j (0-based) sits at input position (j + 0.5) / 2 - 0.5, so an impulse at
    # input 8 gives cubic(position - 8): hand values k(0.25) = 0.8671875, k(0.75) = 0.2265625,
    # k(1.25) = -0.0703125, k(1.75) = -0.0234375, 0 from distance 2 on
    signal = torch.zeros(1, 16, dtype=torch.float64)
    signal[0, 8] = 1.0
    out = imresize(signal, 2)[0].numpy()
    np.testing.assert_allclose(
        out[12:20], [0, -0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125], atol=1e-15
    )
    positions = (np.arange(32) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(out[4:28], cubic(positions - 8)[4:28], atol=1e-15)


def test_upscale_x3_keeps_input_samples():
    # x3: output 3q + 1 sits exactly on input q (a single tap of weight 1), borders included
    x = torch.rand(3, 11, 7)
    up = imresize(x, 3)
    assert torch.equal(up[:, 1::3, 1::3], x)


def test_upscale_is_differentiable_and_matches_no_grad():
    x = torch.rand(2, 3, 19, 21, dtype=torch.float64, requires_grad=True)
    y = imresize(x, 3)
    y.square().sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(y.detach(), imresize(x.detach(), 3))
    mh = torch.from_numpy(resize_matrix(19, 57, 3.0))
    mw = torch.from_numpy(resize_matrix(21, 63, 3.0))
    torch.testing.assert_close(y.detach(), mh @ x.detach() @ mw.T)
    torch.testing.assert_close(x.grad, mh.T @ (2 * y.detach()) @ mw)


@pytest.mark.parametrize("scale", [1.5, 2.5, 2 + 1e-7])
def test_non_integer_upscale_uses_dense_path_and_equals_reference(scale):
    x = np.random.default_rng(3).random((3, 13, 10))
    assert integer_factor(scale, True) == (0, False)
    out = imresize(torch.from_numpy(x).float(), scale)
    ref = _reference_resize(x, scale)
    assert out.shape == ref.shape == (3, math.ceil(13 * scale), math.ceil(10 * scale))
    assert np.abs(out.double().numpy() - ref).max() < 1e-5


def test_integer_factor_routes_scales():
    assert integer_factor(2, True) == (2, True) and integer_factor(4.0, False) == (4, True)
    assert integer_factor(0.25, True) == (4, False) and integer_factor(1 / 3, True) == (3, False)
    assert integer_factor(0.25, False) == (0, False)  # no antialiasing: the dense matrices
    assert integer_factor(1, True) == (0, False) and integer_factor(0.4, True) == (0, False)


def test_upscale_uint8_rounds_the_float_result():
    x = np.random.default_rng(5).integers(0, 256, (3, 9, 12)).astype(np.uint8)
    out = imresize(torch.from_numpy(x), 4)
    ref = np.clip(_reference_resize(x.astype(np.float64), 4), 0, 255)
    assert out.dtype == torch.uint8
    assert np.abs(out.numpy().astype(np.float64) - ref).max() <= 0.5 + 1e-3


def test_gaussian_blur_matches_scipy_reflect():
    from scipy.ndimage import gaussian_filter

    x = np.random.default_rng(0).random((20, 23))
    ours = gaussian_blur(torch.from_numpy(x).float()[None], 1.0)[0].double().numpy()
    ref = gaussian_filter(x, 1.0, mode="reflect", truncate=3.0)  # reflect = MATLAB 'symmetric'
    assert np.abs(ours - ref).max() < 1e-5
    assert math.isclose(float(gaussian_kernel1d(2.0).sum()), 1.0, abs_tol=1e-6)
    assert gaussian_blur(x_t := torch.rand(3, 5, 5), 0) is x_t


def test_noise_has_requested_std_and_is_seeded():
    img = torch.full((3, 200, 200), 0.5)
    a = add_noise(img, 5.0, torch.Generator().manual_seed(1))
    b = add_noise(img, 5.0, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert abs(float((a - img).std()) * 255 - 5.0) < 0.1


def test_jpeg_changes_image_and_quality_matters(astronaut):
    q10 = jpeg_compress(astronaut, 10)
    q95 = jpeg_compress(astronaut, 95)
    err = lambda y: np.abs(y.astype(float) - astronaut).mean()  # noqa: E731
    assert q10.shape == astronaut.shape and q10.dtype == np.uint8
    assert err(q10) > 2 * err(q95) > 0
    assert jpeg_compress(astronaut, 0) is astronaut


def test_warp_integer_shift_is_a_translation():
    img = torch.rand(3, 32, 40, dtype=torch.float64)
    torch.testing.assert_close(warp(img, 0, 0, 0), img, atol=1e-6, rtol=0)
    moved = warp(img, 3, -2, 0)  # content moves 3 px right and 2 px up
    torch.testing.assert_close(moved[:, 4:-4, 6:-6], img[:, 6:-2, 3:-9], atol=1e-6, rtol=0)


def test_degrade_options_and_bursts(astronaut):
    hr = modcrop(astronaut, 4)
    assert np.array_equal(degrade(hr, 4), bicubic_downscale(hr, 4))
    opts = {"frames": 5, "blur_sigma": 0.8, "max_shift": 1.5, "max_rotation": 2.0, "seed": 3}
    burst = degrade(hr, 4, opts, "astronaut")
    assert burst.shape == (5, 128, 128, 3) and burst.dtype == np.uint8
    assert np.array_equal(burst, degrade(hr, 4, opts, "astronaut"))  # deterministic
    assert not np.array_equal(burst, degrade(hr, 4, {**opts, "seed": 4}, "astronaut"))
    single = degrade(hr, 4, {"blur_sigma": 0.8, "noise_sigma": 0.0, "seed": 3}, "astronaut")
    assert np.array_equal(burst[2], single)  # the reference frame T//2 is not warped
    for i in (0, 1, 3, 4):  # the others are shifted: close to, but not equal to, the reference
        diff = np.abs(burst[i].astype(float) - burst[2]).mean()
        assert 0.5 < diff < 30
    with pytest.raises(ValueError, match=r"unknown key 'sigma' \(did you mean 'blur_sigma'"):
        degradation_options({"sigma": 1})
