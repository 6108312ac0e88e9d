"""``folder``: any folder of images already on disk (``root``); image names are file names without suffix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srloss.data.images import image_size, read_rgb
from srloss.data.sources.base import SOURCES, Source, root_option
from srloss.data.sources.files import IMAGE_SUFFIXES, DatasetError, found, image_files, is_dir
from srloss.errors import ConfigError


@SOURCES.register("folder")
class Folder(Source):
    """The images of one folder (``root``), named by file name without suffix (``a.png`` is ``a``)."""

    summary = "any folder of images on disk (`root`, required); image names are file names without suffix"
    options = (root_option("the folder holding the images (required)"),)

    def __init__(self, spec: dict):
        if not spec.get("root"):
            raise DatasetError("source 'folder' needs `root`: the folder holding the images")
        super().__init__(spec)
        self._listing: dict[str, Path] | None = None

    @classmethod
    def check_together(cls, key: str, spec: dict) -> None:
        if not spec.get("root"):
            raise ConfigError(f"config key {key}.root: source 'folder' needs the folder holding the images")

    def _files(self) -> dict[str, Path]:
        """Image files by name, listed once per source object (a folder may hold thousands)."""
        if self._listing is None:
            if not is_dir(self.root):
                raise DatasetError(f"{self.root}: image folder does not exist")
            self._listing = image_files(self.root)
        return self._listing

    def verify(self) -> None:
        if not self._files():
            raise DatasetError(f"{self.root}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")

    def expand(self, split: str, entry: str) -> list[str]:
        self.file(entry)
        return [entry]

    def file(self, name: str) -> Path:
        """The image file of ``name`` (checked to exist)."""
        files = self._files()
        if name not in files:
            raise DatasetError(f"{self.root}: no image named {name!r} (file stem); {found(list(files))}")
        return files[name]

    def files(self, split: str, name: str) -> list[Path]:
        return [self.file(name)]

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, None]:
        return read_rgb(self.file(name)), None

    def header_sizes(self, split: str) -> list[tuple[str, tuple[int, int]]]:
        paths = {name: self.file(name) for name in self.names(split)}
        return [(f"image {name!r} ({path})", image_size(path)) for name, path in paths.items()]
