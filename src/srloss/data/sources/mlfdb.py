"""``mlfdb``: the Multi-Frame Labeled Faces Database (Rajnoha et al. 2020, doi:10.3390/app10207213).

Real LR frame sequences with HR ground truth, from a folder (``root``) or a local archive
(``archive``, extracted into ``resources/datasets/mlfdb/``) the user obtained; it cannot be
downloaded here. Layout (README, "MLFDB expected layout")::

    <root>/{train,val,test}/<sequence>/lr/<frame>.png   frames, ordered by the number ending their names
    <root>/{train,val,test}/<sequence>/hr.png           ground truth of the middle frame, `scale` times larger

A sample is the ``frames`` LR frames centred on the middle frame, so the reference frame sits
at index frames // 2. Splits default to the sequences of the split's folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from srloss.data.images import read_rgb
from srloss.data.sources.base import SOURCES, Source, archive_option, root_option
from srloss.data.sources.files import IMAGE_SUFFIXES, DatasetError, is_dir, is_file
from srloss.errors import ConfigError

MLFDB_DOI = "doi:10.3390/app10207213"
SYNTHETIC_DEGRADATION = ("blur_sigma", "noise_sigma", "jpeg_quality")


@SOURCES.register("mlfdb")
class Mlfdb(Source):
    """MLFDB sequences: real LR frames with HR ground truth; names are sequence folders."""

    summary = "MLFDB face sequences: real LR frames with HR ground truth, from `root` or a local `archive`"
    options = (
        root_option("the extracted database (<root>/{train,val,test}/<sequence>/{lr/,hr.png})"),
        archive_option("a local .zip/.tar of the database, extracted into resources/datasets/mlfdb"),
    )
    needs_splits = False
    default_frames = 7
    SPLIT_FOLDERS = ("train", "val", "test")

    @classmethod
    def check_together(cls, key: str, spec: dict) -> None:
        if (spec.get("root") is None) == (spec.get("archive") is None):
            raise ConfigError(
                f"config key {key}: source 'mlfdb' needs exactly one of `root` (the extracted database) or `archive` "
                f"(a local .zip/.tar); MLFDB cannot be downloaded automatically, see {MLFDB_DOI}"
            )
        synthetic = [k for k in SYNTHETIC_DEGRADATION if spec.get("degradation", {}).get(k)]
        if synthetic:
            raise ConfigError(
                f"config key {key}.degradation: {', '.join(synthetic)} do not apply to mlfdb, whose LR frames "
                "are real; only `frames` does"
            )

    def _error(self, what: str) -> DatasetError:
        return DatasetError(
            f"MLFDB at {self.root}: {what}. Expected <root>/{{train,val,test}}/<sequence>/lr/<frame>.png "
            f"(at least {self.frames} frames) and <root>/{{train,val,test}}/<sequence>/hr.png; see the README "
            f"(MLFDB expected layout). MLFDB is not downloaded automatically: obtain it from the authors of "
            f"Rajnoha et al., Applied Sciences 2020, {MLFDB_DOI}, and set `root` or `archive`."
        )

    def all_names(self, split: str) -> list[str]:
        """The sequences of ``split``: the folders in ``<root>/<split>/``."""
        folder = self.root / split
        if not is_dir(folder):
            raise self._error(f"split folder {split}/ is missing")
        seqs = sorted(p.name for p in folder.iterdir() if is_dir(p) and not p.name.startswith("."))
        if not seqs:
            raise self._error(f"split folder {split}/ holds no sequences")
        return seqs

    def expand(self, split: str, entry: str) -> list[str]:
        if entry not in self.all_names(split):
            raise self._error(f"no sequence {entry!r} in {split}/")
        return [entry]

    def _frames(self, split: str, seq: str) -> list[Path]:
        folder = self.root / split / seq
        lr = folder / "lr"
        if not is_dir(lr) or not is_file(folder / "hr.png"):
            raise self._error(f"sequence {split}/{seq} lacks lr/ or hr.png")
        frames = self._ordered(
            split, seq, [p for p in lr.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and is_file(p)]
        )
        if len(frames) < self.frames:
            raise self._error(f"sequence {split}/{seq} has {len(frames)} frames, fewer than frames={self.frames}")
        return frames

    def _ordered(self, split: str, seq: str, files: list[Path]) -> list[Path]:
        """Frames in time order: by the number that ends their names (``7.png`` before ``10.png``).

        A gap in the numbering would shift which frame is the middle (reference) one, so it is
        refused, naming the missing frame. Names without numbers keep file-name order.
        """
        numbered = [(re.search(r"(\d+)$", p.stem), p) for p in files]
        if not files or not all(m for m, _ in numbered):
            return sorted(files)
        by_number: dict[int, Path] = {}
        for m, p in numbered:
            n = int(m.group(1))
            if n in by_number:
                raise self._error(
                    f"sequence {split}/{seq}: frames {by_number[n].name} and {p.name} have the same number {n}"
                )
            by_number[n] = p
        first, last = min(by_number), max(by_number)
        missing = [n for n in range(first, last + 1) if n not in by_number]
        if missing:
            m, sample = numbered[0]
            width = len(m.group(1)) if m.group(1).startswith("0") else 0
            name = f"{sample.stem[: m.start(1)]}{missing[0]:0{width}d}{sample.suffix}"
            raise DatasetError(
                f"MLFDB at {self.root}: sequence {split}/{seq}: frame {name} is missing from lr/ "
                f"({len(missing)} missing between {by_number[first].name} and {by_number[last].name}); "
                "the middle (reference) frame would be the wrong one: restore the frame or remove the sequence"
            )
        return [by_number[n] for n in sorted(by_number)]

    def verify(self) -> None:
        if not is_dir(self.root):
            raise self._error("the folder does not exist")
        for split in self.SPLIT_FOLDERS:
            for seq in self.all_names(split):
                self._frames(split, seq)

    def files(self, split: str, name: str) -> list[Path]:
        """Every file one sequence is read from: its LR frames and hr.png."""
        return [*self._frames(split, name), self.root / split / name / "hr.png"]

    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(HR HxWx3, LR Txhxwx3) uint8 for one sequence; checks sizes against ``scale``."""
        frames = self._frames(split, name)
        mid = len(frames) // 2
        chosen = frames[mid - self.frames // 2 : mid - self.frames // 2 + self.frames]
        lr = [read_rgb(p) for p in chosen]
        if len({f.shape for f in lr}) != 1:
            raise self._error(f"sequence {split}/{name}: frames differ in size {sorted({f.shape[:2] for f in lr})}")
        hr = read_rgb(self.root / split / name / "hr.png")
        h, w = lr[0].shape[:2]
        if hr.shape[:2] != (h * scale, w * scale):
            raise self._error(
                f"sequence {split}/{name}: hr.png is {hr.shape[1]}x{hr.shape[0]}, expected "
                f"{w * scale}x{h * scale} (frames {w}x{h} at scale {scale})"
            )
        return hr, np.stack(lr)
