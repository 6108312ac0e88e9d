"""Image quality metrics, following the conventions of the SR literature.

``METRICS`` (``base``) is the registry: each metric is a ``Metric`` registered in its own module,
next to its implementation, and declares its columns, options and weights there, so the
evaluation, the report and the config schema need no list of metrics. ``psnr`` (RGB and Y),
``mse``, ``ssim`` (Y), ``sharpness`` (difference, lost and added; the detail crop of the
figures), ``perceptual`` (LPIPS), ``faces`` (failed face recognitions with dlib).

Conventions: uint8-valued CHW RGB inputs (the SR output is rounded first, as when saved), Y =
BT.601 luma (``srloss.ops.rgb_to_y``), ``scale`` pixels cropped from each border. Importing the
package loads no torch: the metric modules import it where they compute (``base``'s docstring).
"""

from srloss.metrics.base import (
    METRICS,
    Column,
    Metric,
    MetricUnavailable,
    check_pair,
    column_catalog,
    column_metric,
    columns_of,
    default_metrics,
    default_sections,
    each_image,
    find_column,
    hidden_columns,
    metric_backbones,
    note_name,
    role_titles,
    selected_metrics,
    shown_columns,
    with_role,
)
from srloss.metrics.faces import FaceVerifier, face_model_dir
from srloss.metrics.mse import mse
from srloss.metrics.perceptual import LPIPS, lpips_backbone_path
from srloss.metrics.psnr import psnr
from srloss.metrics.sharpness import (
    detail_crop,
    gradient_magnitude,
    gradient_magnitude_map,
    sharpness_difference,
    sharpness_split,
)
from srloss.metrics.ssim import ssim

__all__ = [
    "LPIPS",
    "METRICS",
    "Column",
    "FaceVerifier",
    "Metric",
    "MetricUnavailable",
    "check_pair",
    "column_catalog",
    "column_metric",
    "columns_of",
    "default_metrics",
    "default_sections",
    "detail_crop",
    "each_image",
    "face_model_dir",
    "find_column",
    "gradient_magnitude",
    "gradient_magnitude_map",
    "hidden_columns",
    "lpips_backbone_path",
    "metric_backbones",
    "mse",
    "note_name",
    "psnr",
    "role_titles",
    "selected_metrics",
    "sharpness_difference",
    "sharpness_split",
    "shown_columns",
    "ssim",
    "with_role",
]
