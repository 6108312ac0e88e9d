"""``benchmark``: the Set5, Set14, B100 and Urban100 HR images of EDSR's benchmark archive.

``<root>/<set>/HR/<name>.png``, downloaded into ``resources/datasets/benchmark/`` unless ``root``
names a copy on disk (checked: 5/14/100/100 images). Split entries are whole sets (``Set5``)
or single images (``Set5/baby``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srloss.data.images import read_rgb
from srloss.data.sources.base import SOURCES, URL_OPTION, Archive, Source, root_option
from srloss.data.sources.files import DatasetError, found, image_files, is_dir


@SOURCES.register("benchmark")
class Benchmark(Source):
    """Set5/Set14/B100/Urban100 HR images: ``<root>/<set>/HR/<name>.png``; names are ``<set>/<name>``."""

    summary = "Set5, Set14, B100 and Urban100 HR images (EDSR's benchmark.tar), downloaded or an existing copy"
    options = (
        root_option("an existing copy of the benchmark sets to read instead of downloading (checked)"),
        URL_OPTION,
    )
    archives = (
        # size not published; the md5 is checked
        Archive(
            "benchmark",
            "benchmark.tar",
            "https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
            None,
            "4ace41d33c2384b97e6b320cd0afd6ba",
            "benchmark",
            "",
        ),
    )
    SETS = {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100}

    @classmethod
    def check_entry(cls, entry: str) -> list[str]:
        if entry.split("/")[0] not in cls.SETS or entry.count("/") > 1:
            raise DatasetError(
                f"benchmark split entry {entry!r}: expected a set ({', '.join(cls.SETS)}) or set/image, e.g. Set5/baby"
            )
        return [entry]

    def _files(self, set_name: str) -> dict[str, Path]:
        folder = self.root / set_name / "HR"
        if not is_dir(folder):
            raise DatasetError(
                f"{self.root}: not a benchmark copy: folder {set_name}/HR/ is missing (expected "
                f"{', '.join(f'{s}/HR' for s in self.SETS)})"
            )
        return image_files(folder)

    def verify(self) -> None:
        for set_name, count in self.SETS.items():
            files = self._files(set_name)
            if len(files) != count:
                raise DatasetError(
                    f"{self.root / set_name / 'HR'}: expected {count} images in {set_name}, found {len(files)}"
                )

    def expand(self, split: str, entry: str) -> list[str]:
        self.check_entry(entry)
        set_name, _, image = entry.partition("/")
        if image:
            self.file(entry)
            return [entry]
        return [f"{set_name}/{stem}" for stem in self._files(set_name)]

    def file(self, name: str) -> Path:
        """The HR image file of ``<set>/<image>``."""
        set_name, _, image = name.partition("/")
        files = self._files(set_name)
        if image not in files:
            raise DatasetError(f"{self.root / set_name / 'HR'}: no image {image!r}; {found(list(files))}")
        return files[image]

    def files(self, split: str, name: str) -> list[Path]:
        return [self.file(name)]

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, None]:
        return read_rgb(self.file(name)), None
