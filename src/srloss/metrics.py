"""Image quality metrics, following the conventions of the SR literature.

All functions take uint8-valued images (the SR output is rounded to uint8 first, as when it is
saved) as CHW RGB tensors, and compute in float64 on the 0-255 scale.

* Y channel: ITU-R BT.601 luma of [0, 1] RGB, Y = 16 + 65.481 R + 128.553 G + 24.966 B,
  as MATLAB's ``rgb2ycbcr`` (range 16-235).
* Border: ``scale`` pixels are cropped from each side before any metric, as in EDSR/BasicSR.
* PSNR = 10 log10(255^2 / MSE).
* SSIM: Wang et al., "Image Quality Assessment: From Error Visibility to Structural
  Similarity" (TIP 2004), with the authors' MATLAB settings: 11x11 Gaussian window,
  sigma = 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean over the valid region only.
* MSE on the 0-255 scale, over RGB.
* Sharpness difference (G(HR) - G(SR)) / G(HR), G = mean Sobel gradient magnitude of Y;
  positive = reconstruction blurrier (``sharpness_difference``).
* LPIPS (Zhang et al. 2018), AlexNet or VGG trunk, RGB mapped to [-1, 1] (``LPIPS``).
* Failed face recognitions with dlib's 128-d embedding, distance threshold 0.6 (``FaceVerifier``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """BT.601 luma (16-235) of an RGB image (..., 3, H, W) on the 0-255 scale; returns (..., H, W)."""
    if img.shape[-3] != 3:
        raise ValueError(f"rgb_to_y: expected 3 channels at axis -3, got shape {tuple(img.shape)}")
    w = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=img.device)
    return 16.0 + torch.einsum("...chw,c->...hw", img.double() / 255.0, w)


def crop_border(img: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from each side of the last two axes."""
    if border <= 0:
        return img
    if img.shape[-1] <= 2 * border or img.shape[-2] <= 2 * border:
        raise ValueError(f"crop_border: image {tuple(img.shape[-2:])} is too small to crop {border} px from each side")
    return img[..., border:-border, border:-border]


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error on the 0-255 scale."""
    _check_pair(a, b)
    return float(torch.mean((a.double() - b.double()) ** 2))


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    err = mse(a, b)
    return math.inf if err == 0 else 10.0 * math.log10(peak**2 / err)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Normalised 2-D Gaussian window, as MATLAB's ``fspecial('gaussian', size, sigma)``."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _gaussian_filter_valid(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Correlate the last two axes with the normalised Gaussian window, valid region only.

    The window is separable (outer product of its 1-D profile), so this is two 1-D passes of
    shifted, weighted sums: the same values as a 2-D convolution up to float64 rounding, and
    about 8x faster than float64 ``conv2d`` on the CPU.
    """
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).tolist()
    for dim in (-2, -1):
        n = x.shape[dim] - size + 1
        out = x.narrow(dim, 0, n) * g[0]
        for i in range(1, size):
            out.add_(x.narrow(dim, i, n), alpha=g[i])
        x = out
    return x


def ssim(a: torch.Tensor, b: torch.Tensor, peak: float = 255.0) -> float:
    """SSIM of two single-channel images (H, W) on the 0-``peak`` scale (Wang et al. 2004)."""
    _check_pair(a, b)
    if a.ndim != 2:
        raise ValueError(f"ssim: expected single-channel (H, W) images, got shape {tuple(a.shape)}")
    if min(a.shape) < 11:
        raise ValueError(f"ssim: images must be at least 11x11 for the 11x11 window, got {tuple(a.shape)}")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    x, y = a.double(), b.double()
    stack = torch.stack([x, y, x * x, y * y, x * y])  # the five maps, filtered together
    mu_x, mu_y, exx, eyy, exy = _gaussian_filter_valid(stack)
    sxx = exx - mu_x**2
    syy = eyy - mu_y**2
    sxy = exy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float(torch.mean(num / den))


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """A [0, 1] float image rounded to uint8 values, as when it is saved to disk."""
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def image_metrics(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """The standard metric set for one SR/HR pair of uint8 CHW RGB images."""
    _check_pair(sr, hr)
    sr_c, hr_c = crop_border(sr, scale), crop_border(hr, scale)
    y_sr, y_hr = rgb_to_y(sr_c), rgb_to_y(hr_c)
    return {
        "psnr_rgb": psnr(sr_c, hr_c),
        "psnr_y": psnr(y_sr, y_hr),
        "ssim_y": ssim(y_sr, y_hr),
        "mse": mse(sr_c, hr_c),
    }


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


# --- Sharpness -------------------------------------------------------------------------------

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def gradient_magnitude(y: torch.Tensor) -> torch.Tensor:
    """Mean Sobel gradient magnitude sqrt(Gx^2 + Gy^2) of a single-channel (H, W) image, valid region."""
    if y.ndim != 2 or min(y.shape) < 3:
        raise ValueError(f"gradient_magnitude: expected a single-channel (H, W) image of at least 3x3, got shape {tuple(y.shape)}")
    kx = torch.tensor(_SOBEL_X, dtype=torch.float64, device=y.device)
    k = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    g = F.conv2d(y.double()[None, None], k)[0]
    return torch.sqrt(g[0] ** 2 + g[1] ** 2).mean()


def sharpness_difference(sr_y: torch.Tensor, hr_y: torch.Tensor) -> float:
    """Relative loss of sharpness of the reconstruction: (G(HR) - G(SR)) / G(HR).

    G is the mean Sobel gradient magnitude of the Y channel (0-255 scale, valid region), a
    standard focus measure (Pertuz et al., "Analysis of focus measure operators for
    shape-from-focus", Pattern Recognition 2013, operator GRA6/Tenengrad family).
    Positive = the reconstruction is blurrier than the ground truth (0.25: a quarter of the
    gradient energy is missing); negative = over-sharpened or noisy; 0 = as sharp. NaN when the
    ground truth is flat (G(HR) = 0).
    """
    _check_pair(sr_y, hr_y)
    g_hr, g_sr = float(gradient_magnitude(hr_y)), float(gradient_magnitude(sr_y))
    return math.nan if g_hr == 0 else (g_hr - g_sr) / g_hr


# --- LPIPS -----------------------------------------------------------------------------------

# torchvision backbones that lpips loads through torch.hub (file names in $TORCH_HOME/hub/checkpoints).
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (e.g. its weights are not cached); the message says why."""


LPIPS_TRUNKS = {"alex": "alexnet", "vgg": "vgg16"}  # srloss.weights names of the trunks


def lpips_backbone_path(net: str) -> Path:
    """Where torch.hub looks for the ImageNet backbone of LPIPS ``net`` (honours $TORCH_HOME)."""
    if net not in LPIPS_BACKBONE_FILES:
        raise ValueError(f"lpips: unknown net {net!r}; valid choices: {', '.join(LPIPS_BACKBONE_FILES)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILES[net]


class LPIPS:
    """LPIPS distance (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a
    Perceptual Metric", CVPR 2018) with the ``lpips`` package's v0.1 linear layers.

    Images are RGB, uint8-valued CHW, mapped to [-1, 1] as the package expects; lower = closer.
    The ImageNet backbone must be cached (see ``lpips_backbone_path``): if it is not,
    construction raises ``MetricUnavailable`` naming the missing file; it never downloads and
    never falls back to a random backbone.

    ``random_backbone=True`` is for tests only (offline checks of the plumbing): the trunk is
    randomly initialised, and the result is labelled by ``name`` ending in ``_random_backbone``
    so it can never pass for real LPIPS.
    """

    def __init__(self, net: str = "alex", device: str | torch.device = "cpu", random_backbone: bool = False):
        path = lpips_backbone_path(net)
        if not random_backbone and not path.is_file():
            raise MetricUnavailable(f"LPIPS-{net}: ImageNet backbone weights not cached at {path} (no download is attempted; fetch it with `snakemake fetch_weights --cores 1` or `srloss fetch-weights {LPIPS_TRUNKS[net]} --torch-home {path.parents[2]}`, or set TORCH_HOME)")
        import lpips  # imported here: it pulls in torchvision

        self.net = net
        self.random_backbone = random_backbone
        self.name = f"lpips_{net}" + ("_random_backbone" if random_backbone else "")
        with warnings.catch_warnings():  # lpips uses torchvision's deprecated `pretrained=` argument
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net=net, pnet_rand=random_backbone, verbose=False).to(device).eval()
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """LPIPS per image for uint8-valued (N, 3, H, W) or (3, H, W) tensors; returns (N,)."""
        _check_pair(sr, hr)
        if sr.ndim == 3:
            sr, hr = sr[None], hr[None]
        to_pm1 = lambda t: t.to(self.device, torch.float32) / 127.5 - 1.0  # noqa: E731  [0,255] -> [-1,1]
        return self.model(to_pm1(sr), to_pm1(hr)).flatten().double().cpu()


# --- Failed face recognitions (FFR) ----------------------------------------------------------

def face_model_dir() -> Path:
    """Folder of dlib's models shipped in ``face_recognition_models`` (found without importing
    the package, whose ``__init__`` needs ``pkg_resources``)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable("FFR: the package face_recognition_models is not installed (pip install face_recognition_models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceVerifier:
    """Face identity check with dlib: HOG detector, 5-point landmarks, 128-d ResNet embedding
    (King, "Dlib-ml", JMLR 2009; the embedding model scores 99.38% on LFW at distance 0.6).

    ``embed`` returns the embedding of the highest-scoring face whose HOG detection score is at
    least ``min_score`` (a false positive on skimage's astronaut scores 0.12, the face 1.16),
    or None when no face is found.
    """

    def __init__(self, threshold: float = 0.6, min_score: float = 0.5, upsample: int = 1):
        try:
            import dlib
        except ImportError as e:
            raise MetricUnavailable("FFR: dlib is not installed (pip install dlib-bin)") from e
        models = face_model_dir()
        self.threshold, self.min_score, self.upsample = threshold, min_score, upsample
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, img: torch.Tensor) -> np.ndarray | None:
        """128-d embedding of the best face in a uint8-valued CHW RGB image, or None."""
        hwc = np.ascontiguousarray(img.to(torch.uint8).permute(1, 2, 0).cpu().numpy())
        dets, scores, _ = self.detector.run(hwc, self.upsample, 0.0)
        best = max(((s, d) for s, d in zip(scores, dets) if s >= self.min_score), default=None, key=lambda x: x[0])
        if best is None:
            return None
        return np.asarray(self.encoder.compute_face_descriptor(hwc, self.landmarks(hwc, best[1])), dtype=np.float64)

    def compare(self, sr: torch.Tensor, hr: torch.Tensor, hr_embedding: np.ndarray | None = None) -> dict[str, float]:
        """FFR outcome for one pair of uint8 CHW RGB images.

        Returns ``gt_face`` (1 if a face is found in the ground truth, else 0, and then every
        other value is NaN: the image is excluded), ``ffr_no_face`` (1: no face detected in the
        reconstruction), ``ffr_mismatch`` (1: face found but embedding distance > threshold),
        ``ffr`` (1: either failure) and ``face_distance`` (Euclidean, NaN without a face).
        """
        _check_pair(sr, hr)
        nan = math.nan
        ref = self.embed(hr) if hr_embedding is None else hr_embedding
        if ref is None:
            return {"gt_face": 0.0, "ffr": nan, "ffr_no_face": nan, "ffr_mismatch": nan, "face_distance": nan}
        emb = self.embed(sr)
        if emb is None:
            return {"gt_face": 1.0, "ffr": 1.0, "ffr_no_face": 1.0, "ffr_mismatch": 0.0, "face_distance": nan}
        dist = float(np.linalg.norm(emb - ref))
        mismatch = float(dist > self.threshold)
        return {"gt_face": 1.0, "ffr": mismatch, "ffr_no_face": 0.0, "ffr_mismatch": mismatch, "face_distance": dist}


# --- Metric catalogue: table headers (stating the convention) and what "better" means ---------

# direction: "max" (higher is better), "min" (lower is better), "zero" (closer to 0 is better).
METRIC_INFO: dict[str, tuple[str, str]] = {
    "psnr_rgb": ("PSNR RGB (dB, border=scale)", "max"),
    "psnr_y": ("PSNR Y (dB, BT.601, border=scale)", "max"),
    "ssim_y": ("SSIM Y (Gaussian 11/1.5, border=scale)", "max"),
    "mse": ("MSE (0-255, RGB)", "min"),
    "sharpness_diff": ("Sharpness diff ((G_HR-G_SR)/G_HR, Sobel Y; +=blurrier)", "zero"),
    "lpips_alex": ("LPIPS AlexNet (RGB in [-1,1], border=scale)", "min"),
    "lpips_vgg": ("LPIPS VGG (RGB in [-1,1], border=scale)", "min"),
    "ffr": ("FFR (rate: no face or distance > threshold)", "min"),
    "ffr_no_face": ("FFR no face detected (rate)", "min"),
    "ffr_mismatch": ("FFR distance > threshold (rate)", "min"),
    "face_distance": ("Face embedding distance (dlib 128-d)", "min"),
}
RANDOM_SUFFIX = "_random_backbone"


def metric_info(name: str) -> tuple[str, str] | None:
    """(header, direction) of a metric column, or None if ``name`` is not a metric.

    LPIPS made with a random backbone (tests only) keeps its direction but its header says so.
    """
    if name.endswith(RANDOM_SUFFIX) and name[: -len(RANDOM_SUFFIX)] in METRIC_INFO:
        header, direction = METRIC_INFO[name[: -len(RANDOM_SUFFIX)]]
        return f"{header} [RANDOM BACKBONE, test only]", direction
    return METRIC_INFO.get(name)


def detail_crop(hr: torch.Tensor, size: int) -> tuple[int, int, int]:
    """The (top, left, side) of the square window of the ground truth with the most detail.

    Detail = mean Sobel gradient magnitude of Y over the window; candidate windows lie on a
    grid with step side // 4 (ties: the first in raster order), so the choice depends only on
    the ground truth and is the same for every run. ``side`` = min(size, H, W).
    """
    y = rgb_to_y(hr)
    side = min(size, y.shape[-2], y.shape[-1])
    kx = torch.tensor(_SOBEL_X, dtype=torch.float64, device=y.device)
    g = F.conv2d(F.pad(y[None, None], (1, 1, 1, 1), mode="replicate"), torch.stack([kx, kx.T])[:, None])[0]
    mag = torch.sqrt(g[0] ** 2 + g[1] ** 2)
    step = max(1, side // 4)
    means = F.avg_pool2d(mag[None, None], side, stride=step)[0, 0]
    idx = int(torch.argmax(means))
    return (idx // means.shape[1]) * step, (idx % means.shape[1]) * step, side
