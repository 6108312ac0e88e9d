"""Where HR images (or real LR/HR sequences) come from.

A dataset's ``source`` (config key ``datasets.<name>.source``) names one of:

* ``packaged`` (earlier name ``skimage``, still accepted): the embedded demo dataset, real
  photographs that ship inside installed packages (scikit-image, scikit-learn, matplotlib;
  ``PACKAGED_IMAGES``), so the pipeline runs end to end with no download;
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

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from srloss.data.content import DigestCache
from srloss.data.images import image_size, read_rgb, size_problem
from srloss.errors import UserError

DATASETS_DIR = Path("resources/datasets")
DOWNLOADS_DIR = Path("resources/downloads")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")
MLFDB_DOI = "doi:10.3390/app10207213"


class DatasetError(UserError, ValueError):
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


class PackagedSource:
    """Real photographs inside installed packages (``PACKAGED_IMAGES``): the demo dataset."""

    def __init__(self, spec: dict):
        self.spec = spec

    def verify(self) -> None:
        pass

    def expand(self, entry: str) -> list[str]:
        if entry not in PACKAGED_IMAGES:
            raise DatasetError(f"unknown packaged image {entry!r}; valid names: {', '.join(PACKAGED_NAMES)}")
        return [entry]

    def load(self, name: str) -> np.ndarray:
        return load_packaged(name)


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

    @classmethod
    def expand(cls, entry: str) -> list[str]:
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
            raise DatasetError(
                f"{self.root}: not a benchmark copy: folder {name}/HR/ is missing (expected "
                f"{', '.join(f'{s}/HR' for s in self.SETS)})"
            )
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
            raise DatasetError(
                f"benchmark split entry {entry!r}: expected a set ({', '.join(cls.SETS)}) or set/image, e.g. Set5/baby"
            )

    def expand(self, entry: str) -> list[str]:
        self.check_entry(entry)
        set_name, _, image = entry.partition("/")
        files = self._files(set_name)
        if image and image not in files:
            raise DatasetError(f"{self.root / set_name / 'HR'}: no image {image!r}; found: {', '.join(files)}")
        return [entry] if image else [f"{set_name}/{stem}" for stem in files]

    def load(self, name: str) -> np.ndarray:
        return read_rgb(self.file(name))

    def file(self, name: str) -> Path:
        """The HR image file of ``Set/image``."""
        set_name, _, image = name.partition("/")
        files = self._files(set_name)
        if image not in files:
            raise DatasetError(f"{self.root / set_name / 'HR'}: no image {image!r}; found: {', '.join(files)}")
        return files[image]


class FolderSource:
    """Any folder of images on disk (``root``); image names are the file names without suffix."""

    def __init__(self, spec: dict):
        if not spec.get("root"):
            raise DatasetError("source 'folder' needs `root`: the folder holding the images")
        self.root = Path(spec["root"])
        self._listing: dict[str, Path] | None = None

    def _files(self) -> dict[str, Path]:
        """Image files by name, listed once per source object (a folder may hold thousands)."""
        if self._listing is None:
            if not self.root.is_dir():
                raise DatasetError(f"{self.root}: image folder does not exist")
            self._listing = _image_files(self.root)
        return self._listing

    def verify(self) -> None:
        if not self._files():
            raise DatasetError(f"{self.root}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")

    def expand(self, entry: str) -> list[str]:
        files = self._files()
        if entry not in files:
            raise DatasetError(
                f"{self.root}: no image named {entry!r} (file stem); found {len(files)} images, e.g. "
                f"{', '.join(list(files)[:5])}"
            )
        return [entry]

    def load(self, name: str) -> np.ndarray:
        return read_rgb(self._files()[name])

    def file(self, name: str) -> Path:
        """The image file of ``name`` (checked to exist)."""
        self.expand(name)
        return self._files()[name]


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
        frames = self._ordered(split, seq, [p for p in lr.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES])
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

    def files(self, split: str, seq: str) -> list[Path]:
        """Every file one sequence is read from: its LR frames and hr.png."""
        return [*self._frames(split, seq), self.root / split / seq / "hr.png"]

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
            raise self._error(
                f"sequence {split}/{seq}: hr.png is {hr.shape[1]}x{hr.shape[0]}, expected "
                f"{w * scale}x{h * scale} (frames {w}x{h} at scale {scale})"
            )
        return hr, np.stack(lr)


PACKAGED_SOURCES = ("packaged", "skimage")
SOURCE_CLASSES: dict[str, type] = {
    "packaged": PackagedSource,
    "skimage": PackagedSource,  # the source's earlier name, kept so existing configs still run
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


# ----- what one split is made of ----------------------------------------------------------

SPLITS = ("train", "val", "test")
# Keys of a dataset definition that shape every split's shard; patch_size and stride shape the
# training patches only, and `url` (a mirror of the same verified archives) shapes nothing.
SHARED_KEYS = ("source", "root", "archive", "degradation")
TRAIN_KEYS = ("patch_size", "stride")


def patch_at(spec: dict, key: str, scale: int) -> int:
    """A dataset's ``patch_size`` or ``stride`` (HR pixels) at ``scale``: one number for every
    scale, or a mapping from scale to number, as studies that keep the LR patch fixed need
    (e.g. ``{2: 96, 4: 192}``: 48 px LR patches at both scales)."""
    value = spec[key]
    if isinstance(value, dict):
        by_scale = {int(k): v for k, v in value.items()}
        if scale not in by_scale:
            raise KeyError(f"{key}: no entry for scale {scale} (entries: {sorted(by_scale)})")
        value = by_scale[scale]
    return int(value)


def at_scale(spec: dict, scale: int) -> dict:
    """``spec`` with ``patch_size`` and ``stride`` resolved to the numbers used at ``scale``."""
    return {**spec, **{k: patch_at(spec, k, scale) for k in TRAIN_KEYS if k in spec}}


def split_spec(spec: dict, split: str, scale: int) -> dict:
    """The part of a dataset definition that determines one split's shard at ``scale``.

    This is the prepare job's identity: editing the test split (or the x4 patch size) changes
    only the shards it shapes, so training is not redone when only the test images change.
    """
    out = {k: spec[k] for k in SHARED_KEYS if k in spec}
    if split == "train":
        out.update({k: patch_at(spec, k, scale) for k in TRAIN_KEYS if k in spec})
    if split in spec.get("splits", {}):
        out["splits"] = {split: list(spec["splits"][split])}
    return out


def split_names(spec: dict, split: str, source=None) -> list[str]:
    """The image (or sequence) names of one split, with ranges and whole sets expanded."""
    source = source or open_source(spec, verify=False)
    if isinstance(source, MlfdbSource):
        entries = spec.get("splits", {}).get(split)
        return [n for e in entries for n in source.expand(split, e)] if entries else source.sequences(split)
    return [n for entry in spec["splits"][split] for n in source.expand(entry)]


def split_files(spec: dict, split: str) -> list[Path]:
    """The user's files on disk that one split is read from (datasets with ``root``), else [].

    Downloaded datasets (verified by md5 when fetched) and the embedded images have none.
    """
    if not spec.get("root"):
        return []
    source = open_source(spec, verify=False)
    names = split_names(spec, split, source)
    if isinstance(source, MlfdbSource):
        return [f for seq in names for f in source.files(split, seq)]
    if isinstance(source, FolderSource):
        return [source.file(n) for n in names]
    if isinstance(source, Div2kSource):
        return [source.root / ("DIV2K_train_HR" if int(n) <= 800 else "DIV2K_valid_HR") / f"{n}.png" for n in names]
    if isinstance(source, BenchmarkSource):
        return [source.file(n) for n in names]
    return []


def files_fingerprint(paths: list[Path], cache: DigestCache | None = None) -> str:
    """A fingerprint of files by content: their paths and SHA-256 digests, hashed.

    Editing an image in place (even to the same size, with its old modification time restored),
    adding or removing one changes it, so the prepare job reruns; touching or copying an image
    without changing it does not. ``cache`` spares reading files that did not change since the
    last parse (``content.DigestCache``).
    """
    cache = cache or DigestCache()
    h = hashlib.sha256()
    for path in paths:
        try:
            h.update(f"{path}\t{cache.digest(path)}\n".encode())
        except OSError:
            h.update(f"{path}\tmissing\n".encode())
    return h.hexdigest()[:16]


def split_fingerprint(spec: dict, split: str, cache: DigestCache | None = None) -> str:
    """``files_fingerprint`` of a split's files; a dataset that cannot be read yet gets its error's hash
    (the prepare job then fails with that error, naming the problem)."""
    try:
        return files_fingerprint(split_files(spec, split), cache)
    except DatasetError as e:
        return "unreadable-" + hashlib.sha256(str(e).encode()).hexdigest()[:12]


def check_image_sizes(spec: dict, scales: list[int]) -> None:
    """Refuse, naming it, an image too small for its split (``images.size_problem``).

    Checked for the embedded images and ``folder`` datasets (sizes read from the file headers,
    no decoding), so that the mistake shows before any job runs; the prepare job checks every
    source again as it reads the pixels.
    """
    if spec["source"] not in (*PACKAGED_SOURCES, "folder"):
        return
    source = open_source(spec, verify=False)
    for split in (s for s in SPLITS if s in spec["splits"]):  # a test set has a test split only
        for name in split_names(spec, split, source):
            if spec["source"] in PACKAGED_SOURCES:
                size, what = PACKAGED_IMAGES[name].size, f"packaged image {name!r}"
            else:
                path = source.file(name)
                size, what = image_size(path), f"image {name!r} ({path})"
            problem = size_problem(size, split, max(patch_at(spec, "patch_size", s) for s in scales), scales)
            if problem:
                raise DatasetError(f"splits.{split}: {what} {problem}")


# ----- the embedded demo images ------------------------------------------------------------


@dataclass(frozen=True)
class PackagedImage:
    """A real photograph shipped inside an installed Python package (the demo's images).

    ``package`` is the import name, ``distribution`` what pip installs, ``file`` the path inside
    the package's folder, ``size`` (width, height) for the config-time size check (a test
    compares it with the file). ``scene`` is shared by views of one scene (the motorcycle stereo
    pair), which should not be split between training and test. Greyscale photographs are read
    as RGB with equal channels.
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


def load_packaged(name: str) -> np.ndarray:
    """One packaged photograph (``PACKAGED_IMAGES``) as an HxWx3 uint8 array."""
    if name not in PACKAGED_IMAGES:
        raise DatasetError(f"unknown packaged image {name!r}; valid names: {', '.join(PACKAGED_NAMES)}")
    return read_rgb(PACKAGED_IMAGES[name].path())


SOURCES: dict[str, Callable[[str], np.ndarray]] = {"packaged": load_packaged, "skimage": load_packaged}


def load_image(source: str, name: str) -> np.ndarray:
    """Load image ``name`` from ``source`` (a key of ``SOURCES``) as HxWx3 uint8."""
    if source not in SOURCES:
        raise KeyError(f"unknown image source {source!r}; valid sources: {', '.join(sorted(SOURCES))}")
    return SOURCES[source](name)
