"""``packaged`` (earlier name ``skimage``): real photographs that ship inside installed packages.

The embedded demo dataset: scikit-image, scikit-learn and matplotlib install these files
(``PACKAGED_IMAGES``), so the pipeline runs end to end with no download. Greyscale photographs
are read as RGB with equal channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srloss.data.images import read_rgb
from srloss.data.sources.base import SOURCES, Source
from srloss.data.sources.files import DatasetError


@dataclass(frozen=True)
class PackagedImage:
    """A real photograph shipped inside an installed Python package (the demo's images).

    ``package`` is the import name, ``distribution`` what pip installs, ``file`` the path inside
    the package's folder, ``size`` (width, height) for the config-time size check (a test
    compares it with the file). ``scene`` is shared by views of one scene (the motorcycle stereo
    pair), which should not be split between training and test.
    """

    package: str
    distribution: str
    file: str
    size: tuple[int, int]
    scene: str = ""

    def path(self) -> Path:
        """The file on disk; the package is located without importing it (no scikit-learn import cost)."""
        import importlib.util

        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise DatasetError(
                f"packaged image {self.file}: package {self.package!r} is not installed; "
                f"install it with `pip install {self.distribution}` (srloss depends on it)"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / self.file
        if not path.is_file():
            raise DatasetError(
                f"packaged image: {path} is missing from the installed {self.distribution}; "
                f"reinstall it (`pip install --force-reinstall {self.distribution}`)"
            )
        return path


def _skimage(file: str, size: tuple[int, int], scene: str = "") -> PackagedImage:
    return PackagedImage("skimage", "scikit-image", "data/" + file, size, scene)


# name -> where it ships. Colour photographs first, then greyscale ones (scikit-image's data
# module lists them; only files inside the wheels are used, never pooch downloads).
PACKAGED_IMAGES: dict[str, PackagedImage] = {
    "astronaut": _skimage("astronaut.png", (512, 512)),
    "chelsea": _skimage("chelsea.png", (451, 300)),
    "coffee": _skimage("coffee.png", (600, 400)),
    "hubble_deep_field": _skimage("hubble_deep_field.jpg", (1000, 872)),
    "immunohistochemistry": _skimage("ihc.png", (512, 512)),
    "motorcycle_left": _skimage("motorcycle_left.png", (741, 500), "motorcycle"),
    "motorcycle_right": _skimage("motorcycle_right.png", (741, 500), "motorcycle"),
    "retina": _skimage("retina.jpg", (1411, 1411)),
    "rocket": _skimage("rocket.jpg", (640, 427)),
    "china": PackagedImage("sklearn", "scikit-learn", "datasets/images/china.jpg", (640, 427)),
    "flower": PackagedImage("sklearn", "scikit-learn", "datasets/images/flower.jpg", (640, 427)),
    "grace_hopper": PackagedImage("matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (512, 600)),
    "brick": _skimage("brick.png", (512, 512)),
    "camera": _skimage("camera.png", (512, 512)),
    "coins": _skimage("coins.png", (384, 303)),
    "grass": _skimage("grass.png", (512, 512)),
    "gravel": _skimage("gravel.png", (512, 512)),
    "moon": _skimage("moon.png", (512, 512)),
}
PACKAGED_NAMES = tuple(PACKAGED_IMAGES)


def packaged_image(name: str) -> PackagedImage:
    """The entry of ``name`` in ``PACKAGED_IMAGES``; ``DatasetError`` listing the valid names otherwise."""
    if name not in PACKAGED_IMAGES:
        raise DatasetError(f"unknown packaged image {name!r}; valid names: {', '.join(PACKAGED_NAMES)}")
    return PACKAGED_IMAGES[name]


def load_packaged(name: str) -> np.ndarray:
    """One packaged photograph (``PACKAGED_IMAGES``) as an HxWx3 uint8 array."""
    return read_rgb(packaged_image(name).path())


@SOURCES.register("packaged", aliases=("skimage",))  # skimage: the earlier name, so existing configs still run
class Packaged(Source):
    """The photographs of ``PACKAGED_IMAGES``; split entries are their names."""

    summary = (
        "the embedded demo: real photographs that ship inside scikit-image, scikit-learn and matplotlib (no download)"
    )

    @classmethod
    def check_entry(cls, entry: str) -> list[str]:
        packaged_image(entry)
        return [entry]

    def files(self, split: str, name: str) -> list[Path]:
        return [packaged_image(name).path()]

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, None]:
        return load_packaged(name), None

    def tracked_files(self, split: str) -> list[tuple[str, Path]]:
        """The photographs by name: an upgrade of the package that ships one with other pixels
        prepares its shards again (the path differs between environments and counts for nothing)."""
        return [(name, packaged_image(name).path()) for name in self.names(split)]

    def header_sizes(self, split: str) -> list[tuple[str, tuple[int, int]]]:
        return [(f"packaged image {name!r}", packaged_image(name).size) for name in self.names(split)]
