"""Where HR images (or real LR/HR sequences) come from.

A dataset's ``source`` (config key ``datasets.<name>.source``) names one of:

* ``skimage``: the embedded demo dataset, real colour photographs that ship inside
  scikit-image, so the pipeline runs end to end with no download;
* ``div2k``: DIV2K HR images 0001-0800 (train) and 0801-0900 (valid), downloaded from the
  official site into ``resources/datasets/div2k/`` or read from an existing copy (``root``);
* ``benchmark``: Set5, Set14, B100 and Urban100 HR images from the EDSR benchmark archive,
  downloaded into ``resources/datasets/benchmark/`` or read from an existing copy (``root``);
* ``folder``: any folder of images already on disk (``root``), image names are file stems;
* ``mlfdb``: the Multi-Frame Labeled Faces Database (Rajnoha et al. 2020,
  doi:10.3390/app10207213), real LR frame sequences with HR ground truth, from a folder
  (``root``) or an archive (``archive``) the user obtained; it cannot be downloaded here.

Existing copies are checked (file count and names) before use, with errors that name the
folder and what was expected. Split entries are image names; ``div2k`` also accepts ranges
(``0001-0800``) and ``benchmark`` whole sets (``Set5``) or single images (``Set5/baby``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

DATASETS_DIR = Path("resources/datasets")
DOWNLOADS_DIR = Path("resources/downloads")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
MLFDB_DOI = "doi:10.3390/app10207213"


class DatasetError(ValueError):
    """A dataset on disk is missing or does not have the expected contents."""


# ----- archives that can be fetched ------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """A downloadable archive and where its contents go (relative to the source's root)."""

    name: str
    filename: str
    url: str
    size: int | None
    md5: str
    source: str
    subdir: str  # "" = the root itself

    def url_from(self, base: str | None) -> str:
        """The archive's URL, or the same file name under a mirror's ``base`` URL."""
        return self.url if not base else base.rstrip("/") + "/" + self.filename


DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
ARCHIVES: dict[str, Archive] = {
    a.name: a
    for a in (
        Archive("DIV2K_train_HR", "DIV2K_train_HR.zip", DIV2K_URL + "DIV2K_train_HR.zip", 3_530_603_713, "bdc2d9338d4e574fe81bf7d158758658", "div2k", "DIV2K_train_HR"),
        Archive("DIV2K_valid_HR", "DIV2K_valid_HR.zip", DIV2K_URL + "DIV2K_valid_HR.zip", 448_993_893, "9fcdda83005c5e5997799b69f955ff88", "div2k", "DIV2K_valid_HR"),
        # size not published; the md5 is checked
        Archive("benchmark", "benchmark.tar", "https://cv.snu.ac.kr/research/EDSR/benchmark.tar", None, "4ace41d33c2384b97e6b320cd0afd6ba", "benchmark", ""),
    )
}
SOURCE_ARCHIVES = {"div2k": ("DIV2K_train_HR", "DIV2K_valid_HR"), "benchmark": ("benchmark",)}


def dataset_root(spec: dict) -> Path:
    """The folder a dataset's files are read from: ``root`` if given, else the default place."""
    if spec.get("root"):
        return Path(spec["root"])
    return DATASETS_DIR / spec["source"]


def archives_to_fetch(spec: dict) -> list[Archive]:
    """The archives the workflow must download for this dataset (none for existing copies)."""
    if spec.get("root"):
        return []
    return [ARCHIVES[n] for n in SOURCE_ARCHIVES.get(spec["source"], ())]


def fetch_marker(archive: Archive) -> Path:
    """The file whose presence says ``archive`` is downloaded, verified and extracted."""
    return DATASETS_DIR / archive.source / ".fetched" / f"{archive.name}.json"


def fetch_target(archive: Archive) -> Path:
    return DATASETS_DIR / archive.source / archive.subdir if archive.subdir else DATASETS_DIR / archive.source


# ----- image I/O ---------------------------------------------------------------------------


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB (grey and RGBA are converted)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")).copy()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read image: {e}") from e


def _image_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}


def _compare(folder: Path, found: set[str], expected: set[str], what: str) -> None:
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing or extra:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {', '.join(missing[:5])})")
        if extra:
            detail.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:5])})")
        raise DatasetError(f"{folder}: expected {what}; found {len(found)} files: {'; '.join(detail)}")


# ----- sources -----------------------------------------------------------------------------


class SkimageSource:
    """scikit-image's bundled colour photographs (the demo dataset)."""

    def __init__(self, spec: dict):
        self.spec = spec

    def verify(self) -> None:
        pass

    def expand(self, entry: str) -> list[str]:
        if entry not in SKIMAGE_NAMES:
            raise DatasetError(f"unknown skimage demo image {entry!r}; valid names: {', '.join(SKIMAGE_NAMES)}")
        return [entry]

    def load(self, name: str) -> np.ndarray:
        return load_skimage(name)


class Div2kSource:
    """DIV2K HR: ``<root>/DIV2K_train_HR/0001..0800.png`` and ``<root>/DIV2K_valid_HR/0801..0900.png``."""

    PARTS = {"DIV2K_train_HR": (1, 800), "DIV2K_valid_HR": (801, 900)}
    ALIASES = {"train": "0001-0800", "valid": "0801-0900"}

    def __init__(self, spec: dict):
        self.root = dataset_root(spec)

    def verify(self) -> None:
        for part, (lo, hi) in self.PARTS.items():
            folder = self.root / part
            if not folder.is_dir():
                raise DatasetError(f"{self.root}: not a DIV2K HR copy: folder {part}/ is missing (expected {part}/{lo:04d}.png ... {hi:04d}.png)")
            found = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
            _compare(folder, found, {f"{i:04d}.png" for i in range(lo, hi + 1)}, f"{hi - lo + 1} files {lo:04d}.png ... {hi:04d}.png")

    @classmethod
    def expand(cls, entry: str) -> list[str]:
        entry = cls.ALIASES.get(entry, entry)
        m = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", entry)
        if not m:
            raise DatasetError(f"DIV2K split entry {entry!r}: expected an image number 0001..0900, a range like 0001-0800, 'train' or 'valid'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= lo <= hi <= 900:
            raise DatasetError(f"DIV2K split entry {entry!r}: images are numbered 0001..0900 (0801..0900 is the validation set)")
        return [f"{i:04d}" for i in range(lo, hi + 1)]

    def load(self, name: str) -> np.ndarray:
        part = "DIV2K_train_HR" if int(name) <= 800 else "DIV2K_valid_HR"
        return read_rgb(self.root / part / f"{name}.png")


class BenchmarkSource:
    """Set5/Set14/B100/Urban100 HR images: ``<root>/<set>/HR/<name>.png`` (EDSR's benchmark.tar)."""

    SETS = {"Set5": 5, "Set14": 14, "B100": 100, "Urban100": 100}

    def __init__(self, spec: dict):
        self.root = dataset_root(spec)

    def _files(self, name: str) -> dict[str, Path]:
        folder = self.root / name / "HR"
        if not folder.is_dir():
            raise DatasetError(f"{self.root}: not a benchmark copy: folder {name}/HR/ is missing (expected {', '.join(f'{s}/HR' for s in self.SETS)})")
        return _image_files(folder)

    def verify(self) -> None:
        for name, count in self.SETS.items():
            files = self._files(name)
            if len(files) != count:
                raise DatasetError(f"{self.root / name / 'HR'}: expected {count} images in {name}, found {len(files)}")

    @classmethod
    def check_entry(cls, entry: str) -> None:
        set_name = entry.split("/")[0]
        if set_name not in cls.SETS or entry.count("/") > 1:
            raise DatasetError(f"benchmark split entry {entry!r}: expected a set ({', '.join(cls.SETS)}) or set/image, e.g. Set5/baby")

    def expand(self, entry: str) -> list[str]:
        self.check_entry(entry)
        set_name, _, image = entry.partition("/")
        files = self._files(set_name)
        if image and image not in files:
            raise DatasetError(f"{self.root / set_name / 'HR'}: no image {image!r}; found: {', '.join(files)}")
        return [entry] if image else [f"{set_name}/{stem}" for stem in files]

    def load(self, name: str) -> np.ndarray:
        set_name, _, image = name.partition("/")
        return read_rgb(self._files(set_name)[image])


class FolderSource:
    """Any folder of images on disk (``root``); image names are the file names without suffix."""

    def __init__(self, spec: dict):
        if not spec.get("root"):
            raise DatasetError("source 'folder' needs `root`: the folder holding the images")
        self.root = Path(spec["root"])

    def _files(self) -> dict[str, Path]:
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: image folder does not exist")
        return _image_files(self.root)

    def verify(self) -> None:
        if not self._files():
            raise DatasetError(f"{self.root}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")

    def expand(self, entry: str) -> list[str]:
        files = self._files()
        if entry not in files:
            raise DatasetError(f"{self.root}: no image named {entry!r} (file stem); found {len(files)} images, e.g. {', '.join(list(files)[:5])}")
        return [entry]

    def load(self, name: str) -> np.ndarray:
        return read_rgb(self._files()[name])


def dataset_frames(spec: dict) -> int:
    """Frames per sample of a dataset definition: ``degradation.frames``, by default 7 for MLFDB, else 1."""
    default = 7 if spec.get("source") == "mlfdb" else 1
    return int(spec.get("degradation", {}).get("frames", default))


class MlfdbSource:
    """MLFDB sequences: real LR frames with HR ground truth (layout in the README).

    ``<root>/{train,val,test}/<sequence>/lr/*.png`` (frames, sorted by file name, all the same
    size) and ``<root>/{train,val,test}/<sequence>/hr.png`` (ground truth of the middle frame,
    ``scale`` times larger). A sample is the ``frames`` LR frames centred on the middle frame,
    so the reference frame sits at index frames // 2.
    """

    SPLITS = ("train", "val", "test")

    def __init__(self, spec: dict):
        self.root = dataset_root(spec) if spec.get("root") else DATASETS_DIR / "mlfdb"
        self.frames = dataset_frames(spec)

    def _error(self, what: str) -> DatasetError:
        return DatasetError(
            f"MLFDB at {self.root}: {what}. Expected <root>/{{train,val,test}}/<sequence>/lr/<frame>.png "
            f"(at least {self.frames} frames) and <root>/{{train,val,test}}/<sequence>/hr.png; see the README "
            f"(MLFDB expected layout). MLFDB is not downloaded automatically: obtain it from the authors of "
            f"Rajnoha et al., Applied Sciences 2020, {MLFDB_DOI}, and set `root` or `archive`."
        )

    def sequences(self, split: str) -> list[str]:
        folder = self.root / split
        if not folder.is_dir():
            raise self._error(f"split folder {split}/ is missing")
        seqs = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not seqs:
            raise self._error(f"split folder {split}/ holds no sequences")
        return seqs

    def _frames(self, split: str, seq: str) -> list[Path]:
        folder = self.root / split / seq
        lr = folder / "lr"
        if not lr.is_dir() or not (folder / "hr.png").is_file():
            raise self._error(f"sequence {split}/{seq} lacks lr/ or hr.png")
        frames = sorted(p for p in lr.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(frames) < self.frames:
            raise self._error(f"sequence {split}/{seq} has {len(frames)} frames, fewer than frames={self.frames}")
        return frames

    def verify(self) -> None:
        if not self.root.is_dir():
            raise self._error("the folder does not exist")
        for split in self.SPLITS:
            for seq in self.sequences(split):
                self._frames(split, seq)

    def expand(self, split: str, entry: str) -> list[str]:
        if entry not in self.sequences(split):
            raise self._error(f"no sequence {entry!r} in {split}/")
        return [entry]

    def load_pair(self, split: str, seq: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
        """(HR HxWx3, LR TxhxWx3) uint8 for one sequence; checks sizes against ``scale``."""
        frames = self._frames(split, seq)
        mid = len(frames) // 2
        chosen = frames[mid - self.frames // 2 : mid - self.frames // 2 + self.frames]
        lr = [read_rgb(p) for p in chosen]
        if len({f.shape for f in lr}) != 1:
            raise self._error(f"sequence {split}/{seq}: frames differ in size {sorted({f.shape[:2] for f in lr})}")
        hr = read_rgb(self.root / split / seq / "hr.png")
        h, w = lr[0].shape[:2]
        if hr.shape[:2] != (h * scale, w * scale):
            raise self._error(f"sequence {split}/{seq}: hr.png is {hr.shape[1]}x{hr.shape[0]}, expected {w * scale}x{h * scale} (frames {w}x{h} at scale {scale})")
        return hr, np.stack(lr)


SOURCE_CLASSES: dict[str, type] = {
    "skimage": SkimageSource,
    "div2k": Div2kSource,
    "benchmark": BenchmarkSource,
    "folder": FolderSource,
    "mlfdb": MlfdbSource,
}


def open_source(spec: dict, verify: bool = True):
    """The source object of a dataset definition; ``verify`` checks the files on disk first."""
    name = spec["source"]
    if name not in SOURCE_CLASSES:
        raise KeyError(f"unknown image source {name!r}; valid sources: {', '.join(sorted(SOURCE_CLASSES))}")
    source = SOURCE_CLASSES[name](spec)
    if verify:
        source.verify()
    return source


# ----- the embedded demo images ------------------------------------------------------------


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
