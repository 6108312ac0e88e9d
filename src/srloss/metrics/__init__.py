"""Image quality metrics, following the conventions of the SR literature.

* ``pixel``: PSNR (RGB and Y), SSIM (Y), MSE, sharpness difference and its lost/added split,
  and the detail crop used for the sample figures;
* ``perceptual``: LPIPS (AlexNet or VGG trunk);
* ``faces``: failed face recognitions (FFR) with dlib;
* ``catalog``: each metric column's table header and direction (what "better" means).

Conventions: uint8-valued CHW RGB inputs (the SR output is rounded first, as when saved), Y =
BT.601 luma (``srloss.ops.rgb_to_y``), ``scale`` pixels cropped from each border.
"""

from srloss.metrics.catalog import METRIC_INFO, RANDOM_SUFFIX, MetricUnavailable, metric_info
from srloss.metrics.faces import FaceVerifier, face_model_dir
from srloss.metrics.perceptual import LPIPS, lpips_backbone_path
from srloss.metrics.pixel import (
    check_pair,
    detail_crop,
    gradient_magnitude,
    gradient_magnitude_map,
    image_metrics,
    mse,
    psnr,
    sharpness_difference,
    sharpness_split,
    ssim,
)
from srloss.ops import crop_border, rgb_to_y, to_uint8

__all__ = [
    "LPIPS",
    "METRIC_INFO",
    "RANDOM_SUFFIX",
    "FaceVerifier",
    "MetricUnavailable",
    "check_pair",
    "crop_border",
    "detail_crop",
    "face_model_dir",
    "gradient_magnitude",
    "gradient_magnitude_map",
    "image_metrics",
    "lpips_backbone_path",
    "metric_info",
    "mse",
    "psnr",
    "rgb_to_y",
    "sharpness_difference",
    "sharpness_split",
    "ssim",
    "to_uint8",
]
