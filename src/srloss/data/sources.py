"""Where HR images come from.

The ``skimage`` source is the embedded demo dataset: real colour photographs that ship inside
scikit-image, so the pipeline runs end to end with no download.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _skimage_images() -> dict[str, Callable[[], np.ndarray]]:
    from skimage import data

    return {
        "astronaut": data.astronaut,
        "chelsea": data.chelsea,
        "coffee": data.coffee,
        "hubble_deep_field": data.hubble_deep_field,
        "immunohistochemistry": data.immunohistochemistry,
        "motorcycle_left": lambda: data.stereo_motorcycle()[0],
        "motorcycle_right": lambda: data.stereo_motorcycle()[1],
        "retina": data.retina,
        "rocket": data.rocket,
    }


SKIMAGE_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "motorcycle_right",
    "retina",
    "rocket",
)


def load_skimage(name: str) -> np.ndarray:
    """One of scikit-image's bundled colour photographs as an HxWx3 uint8 array."""
    loaders = _skimage_images()
    if name not in loaders:
        raise KeyError(f"unknown skimage demo image {name!r}; valid names: {', '.join(sorted(loaders))}")
    img = np.asarray(loaders[name]())
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"skimage image {name!r} is not an RGB uint8 image (shape {img.shape}, dtype {img.dtype})")
    return img


SOURCES: dict[str, Callable[[str], np.ndarray]] = {"skimage": load_skimage}


def load_image(source: str, name: str) -> np.ndarray:
    """Load image ``name`` from ``source`` (a key of ``SOURCES``) as HxWx3 uint8."""
    if source not in SOURCES:
        raise KeyError(f"unknown image source {source!r}; valid sources: {', '.join(sorted(SOURCES))}")
    return SOURCES[source](name)
