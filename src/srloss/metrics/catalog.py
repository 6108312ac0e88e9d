"""The metric catalogue: each metric column's table header (stating its convention) and what
"better" means, and the error for a metric that cannot be computed here. No torch."""

from __future__ import annotations


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here (e.g. its weights are not cached); the message says why."""


# direction: "max" (higher is better), "min" (lower is better), "zero" (closer to 0 is better).
METRIC_INFO: dict[str, tuple[str, str]] = {
    "psnr_rgb": ("PSNR RGB (dB, border=scale)", "max"),
    "psnr_y": ("PSNR Y (dB, BT.601, border=scale)", "max"),
    "ssim_y": ("SSIM Y (Gaussian 11/1.5, border=scale)", "max"),
    "mse": ("MSE (0-255, RGB)", "min"),
    "sharpness_diff": ("Sharpness diff ((G_HR-G_SR)/G_HR, G=mean Sobel magnitude of Y; +=blurrier; signed)", "zero"),
    "sharpness_lost": ("Sharpness lost (mean relu(M_HR-M_SR)/G_HR, Sobel Y)", "min"),
    "sharpness_added": ("Sharpness added (mean relu(M_SR-M_HR)/G_HR, Sobel Y; noise)", "min"),
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
