"""``div2k``: DIV2K HR images (Agustsson and Timofte 2017), downloaded or an existing copy.

``<root>/DIV2K_train_HR/0001.png ... 0800.png`` and ``<root>/DIV2K_valid_HR/0801.png ... 0900.png``,
downloaded from the official site into ``resources/datasets/div2k/`` unless ``root`` names a
copy on disk, which is checked (file count and names) before use. Split entries are image
numbers, ranges (``0001-0800``), ``train`` or ``valid``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from srloss.data.images import read_rgb
from srloss.data.sources.base import SOURCES, URL_OPTION, Archive, Source, root_option
from srloss.data.sources.files import DatasetError, is_dir

DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"


def _compare(folder: Path, found: set[str], expected: set[str], what: str) -> None:
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {', '.join(missing[:5])})")
        if extra:
            detail.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:5])})")
        raise DatasetError(f"{folder}: expected {what}; found {len(found)} files: {'; '.join(detail)}")


@SOURCES.register("div2k")
class Div2k(Source):
    """DIV2K HR: ``<root>/DIV2K_train_HR/0001..0800.png`` and ``<root>/DIV2K_valid_HR/0801..0900.png``."""

    summary = "DIV2K HR images 0001-0800 (train) and 0801-0900 (valid), downloaded or an existing copy (`root`)"
    options = (
        root_option("an existing DIV2K copy to read instead of downloading (checked for the expected files)"),
        URL_OPTION,
    )
    archives = (
        Archive(
            "DIV2K_train_HR",
            "DIV2K_train_HR.zip",
            DIV2K_URL + "DIV2K_train_HR.zip",
            3_530_603_713,
            "bdc2d9338d4e574fe81bf7d158758658",
            "div2k",
            "DIV2K_train_HR",
        ),
        Archive(
            "DIV2K_valid_HR",
            "DIV2K_valid_HR.zip",
            DIV2K_URL + "DIV2K_valid_HR.zip",
            448_993_893,
            "9fcdda83005c5e5997799b69f955ff88",
            "div2k",
            "DIV2K_valid_HR",
        ),
    )
    PARTS = {"DIV2K_train_HR": (1, 800), "DIV2K_valid_HR": (801, 900)}
    ALIASES = {"train": "0001-0800", "valid": "0801-0900"}

    @classmethod
    def check_entry(cls, entry: str) -> list[str]:
        entry = cls.ALIASES.get(entry, entry)
        m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", entry)
        if not m:
            raise DatasetError(
                f"DIV2K split entry {entry!r}: expected an image number 0001..0900, a range like 0001-0800, "
                "'train' or 'valid'"
            )
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= lo <= hi <= 900:
            raise DatasetError(
                f"DIV2K split entry {entry!r}: images are numbered 0001..0900 (0801..0900 is the validation set)"
            )
        return [f"{i:04d}" for i in range(lo, hi + 1)]

    def verify(self) -> None:
        for part, (lo, hi) in self.PARTS.items():
            folder = self.root / part
            if not is_dir(folder):
                raise DatasetError(
                    f"{self.root}: not a DIV2K HR copy: folder {part}/ is missing (expected {part}/{lo:04d}.png "
                    f"... {hi:04d}.png)"
                )
            found = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
            _compare(
                folder,
                found,
                {f"{i:04d}.png" for i in range(lo, hi + 1)},
                f"{hi - lo + 1} files {lo:04d}.png ... {hi:04d}.png",
            )

    def files(self, split: str, name: str) -> list[Path]:
        part = "DIV2K_train_HR" if int(name) <= 800 else "DIV2K_valid_HR"
        return [self.root / part / f"{name}.png"]

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, None]:
        (path,) = self.files(split, name)
        return read_rgb(path), None
