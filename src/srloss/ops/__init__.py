"""Tensor operations shared by the data layer, models, losses and metrics.

* ``resize``: MATLAB-compatible bicubic ``imresize`` (degradation, bicubic baseline, residual
  paths, downsampled-space loss);
* ``kernels``: Gaussian windows and kernels, Sobel derivatives;
* ``image``: ``rgb_to_y`` (BT.601), ``crop_border``, ``reference_frame``, ``to_uint8``.

This package imports nothing else from srloss, so every layer can use it without import cycles.
"""

from srloss.ops.image import crop_border, reference_frame, rgb_to_y, to_uint8
from srloss.ops.kernels import gaussian_kernel1d, gaussian_profile, gaussian_window, sobel_kernels
from srloss.ops.resize import imresize, resize_matrix

__all__ = [
    "crop_border",
    "gaussian_kernel1d",
    "gaussian_profile",
    "gaussian_window",
    "imresize",
    "reference_frame",
    "resize_matrix",
    "rgb_to_y",
    "sobel_kernels",
    "to_uint8",
]
