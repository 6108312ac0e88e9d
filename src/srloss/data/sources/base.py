"""The image source interface (``Source``) and its registry (``SOURCES``).

A source is where a dataset's samples come from (config key ``datasets.<name>.source``). Each
one is a ``Source`` subclass in its own module of this package, registered by name::

    @SOURCES.register("folder")
    class Folder(Source):
        summary = "any folder of images on disk (`root`); image names are file names without suffix"
        options = (root_option("the folder holding the images (required)"),)

        def files(self, split, name): ...
        def load(self, split, name, scale): ...

and declares what the rest of the system needs: the dataset keys it accepts beyond the common
ones (``options``: ``root``, ``url``, ``archive``), whether ``splits`` must be given, its frames
per sample, the archives it downloads, the checks of a definition that need no disk
(``check_entry``, ``check_together``), and, on disk, the names of a split, the files each sample
is read from and how to load it. ``files`` and ``load`` are abstract: a source without them fails
at registration, naming what is missing, instead of later getting no fingerprint or no data.
"""

from __future__ import annotations

import inspect
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from srloss.data.sources.files import DatasetError
from srloss.errors import ConfigError
from srloss.options import Option, OptionError
from srloss.registry import Registry, RegistryError

DATASETS_DIR = Path("resources/datasets")
DOWNLOADS_DIR = Path("resources/downloads")
SPLITS = ("train", "val", "test")
# Keys every dataset definition may have, whatever its source (the config schema documents them);
# a source declares any other key it accepts as an Option.
COMMON_KEYS = ("source", "degradation", "splits", "test_on", "patch_size", "stride")


@dataclass(frozen=True)
class Archive:
    """A downloadable archive and where its contents go (relative to the source's folder)."""

    name: str
    filename: str
    url: str
    size: int | None
    md5: str
    source: str
    subdir: str  # "" = the source's folder itself

    def url_from(self, base: str | None) -> str:
        """The archive's URL, or the same file name under a mirror's ``base`` URL."""
        return self.url if not base else base.rstrip("/") + "/" + self.filename


def fetch_marker(archive: Archive) -> Path:
    """The file whose presence says ``archive`` is downloaded, verified and extracted."""
    return DATASETS_DIR / archive.source / ".fetched" / f"{archive.name}.json"


def fetch_target(archive: Archive) -> Path:
    """The folder ``archive`` is extracted into."""
    return DATASETS_DIR / archive.source / archive.subdir


def unpack_marker(source: str) -> Path:
    """The file whose presence says the user's local ``archive`` of ``source`` is extracted."""
    return DATASETS_DIR / source / ".fetched" / "archive.json"


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a path, got an empty string")
    return value


def _mirror_url(value: str) -> str:
    if not re.match(r"(https?|file)://", value):
        raise ValueError(f"expected a URL starting with http://, https:// or file://, got {value!r}")
    return value


def root_option(doc: str) -> Option:
    """The ``root`` key: a folder on disk the dataset is read from (``doc``: what it holds for this source)."""
    return Option("root", None, doc, type=str, parse=_non_empty)


def archive_option(doc: str) -> Option:
    """The ``archive`` key: a local .zip/.tar the user supplies, extracted into resources/datasets/<source>/."""
    return Option("archive", None, doc, type=str, parse=_non_empty)


URL_OPTION = Option(
    "url",
    None,
    "base URL of a mirror serving the same archive files (same md5), instead of the official site",
    type=str,
    parse=_mirror_url,
)


class Source(ABC):
    """Where one dataset's samples come from; built from the dataset's definition (``spec``).

    Declarations (class attributes): ``summary`` (one line for the docs), ``options`` (dataset keys
    accepted beyond ``COMMON_KEYS``), ``needs_splits`` (False: ``all_names`` lists a split when the
    config does not), ``default_frames`` (frames per sample unless ``degradation.frames`` says
    otherwise), ``archives`` (downloaded unless ``root`` is given).
    """

    name: ClassVar[str]  # set by the registry
    summary: ClassVar[str]
    options: ClassVar[tuple[Option, ...]] = ()
    needs_splits: ClassVar[bool] = True
    default_frames: ClassVar[int] = 1
    archives: ClassVar[tuple[Archive, ...]] = ()

    def __init__(self, spec: dict):
        self.spec = spec
        self.root = Path(spec["root"]) if spec.get("root") else DATASETS_DIR / self.name
        self.frames = dataset_frames(spec)

    # ----- config checks: no disk -----

    @classmethod
    def check_spec(cls, key: str, spec: dict) -> None:
        """Raise ``ConfigError`` naming the key (``key`` = ``datasets.<name>``) of the first problem in a
        definition that shows without files: a key the source does not use, a bad value, a cross-key rule."""
        declared = {o.name: o for o in cls.options}
        for field, value in spec.items():
            if field in COMMON_KEYS or value is None:  # None: not set
                continue
            if field not in declared:
                users = sorted(n for n in SOURCES if field in {o.name for o in SOURCES[n].options})
                where = f"it applies to sources: {', '.join(users)}" if users else "no source uses it"
                raise ConfigError(f"config key {key}.{field}: not used by source {spec['source']!r}; {where}")
            try:
                declared[field].check(value)
            except OptionError as e:
                raise ConfigError(f"config key {key}.{e.option}: {e.detail}") from None
        cls.check_together(key, spec)
        if cls.needs_splits and "splits" not in spec:
            raise ConfigError(
                f"config key {key}.splits: required for source {spec['source']!r} (train, val and test image lists)"
            )

    @classmethod
    def check_together(cls, key: str, spec: dict) -> None:
        """Rules involving several keys of a definition (raise ``ConfigError`` naming the key); none by default."""

    @classmethod
    def check_entry(cls, entry: str) -> list[str]:
        """The names a ``splits`` entry stands for, as far as they are known without the disk (the
        config check refuses a name in two splits); ``DatasetError`` when the entry cannot be valid.
        By default an entry is one name."""
        return [entry]

    # ----- on disk -----

    def verify(self) -> None:
        """Check that the copy on disk is complete (``DatasetError`` naming what is wrong); nothing by default."""

    def expand(self, split: str, entry: str) -> list[str]:
        """The names a ``splits`` entry stands for, checked on disk; by default ``check_entry``."""
        return self.check_entry(entry)

    def all_names(self, split: str) -> list[str]:
        """Every name of ``split`` when the config lists none (sources with ``needs_splits = False``)."""
        raise DatasetError(f"source {self.name!r}: no `splits.{split}` given, and the source cannot list it")

    def names(self, split: str) -> list[str]:
        """The sample names of ``split``, in order: its entries expanded, or ``all_names``."""
        entries = self.spec.get("splits", {}).get(split)
        if not entries:
            return self.all_names(split)
        return [name for entry in entries for name in self.expand(split, entry)]

    @abstractmethod
    def files(self, split: str, name: str) -> list[Path]:
        """Every file sample ``name`` of ``split`` is read from (its content is fingerprinted)."""

    def tracked_files(self, split: str) -> list[tuple[str, Path]]:
        """(name, file) of every file whose content decides ``split``'s shard, the name relative to the
        copy's folder (so moving it, or reaching it through a symbolic link, changes nothing): the
        files of a copy the user supplies (``root``). Downloads are verified by md5 when fetched."""
        root = self.spec.get("root")
        if not root:
            return []
        files = [path for name in self.names(split) for path in self.files(split, name)]
        return [(os.path.relpath(path, root), path) for path in files]

    @abstractmethod
    def load(self, split: str, name: str, scale: int) -> tuple[np.ndarray, np.ndarray | None]:
        """One sample: (HR HxWx3 uint8, real LR frames Txhxwx3 uint8 checked against ``scale``), or
        (HR, None) when the LR is made from the HR by the configured degradation."""

    def header_sizes(self, split: str) -> list[tuple[str, tuple[int, int]]]:
        """(image as named in an error, (width, height)) for every image of ``split``, read without
        decoding, so the config check refuses images too small for their split before any job runs.
        Empty when the sizes are not known before download (the prepare job checks them then)."""
        return []


def _check_source(name: str, cls: type) -> None:
    """A registering source must be a complete ``Source``: raise ``RegistryError`` naming what it lacks."""
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise RegistryError(f"image source {name!r}: {cls!r} is not a subclass of srloss.data.sources.base.Source")
    where = f"image source {name!r} ({cls.__module__}.{cls.__qualname__})"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise RegistryError(
            f"{where}: does not implement {missing}; every source lists the files a sample is read from "
            "(files: their content decides when the prepare job reruns) and loads a sample (load)"
        )
    if not isinstance(getattr(cls, "summary", None), str) or not cls.summary.strip():
        raise RegistryError(f"{where}: no `summary` (one line saying where its images come from)")
    for option in cls.options:
        if not isinstance(option, Option) or option.name in COMMON_KEYS:
            raise RegistryError(f"{where}: options must be Option entries for keys other than {', '.join(COMMON_KEYS)}")
    if not cls.needs_splits and cls.all_names is Source.all_names:
        raise RegistryError(f"{where}: needs_splits is False, so it must list a split itself (all_names)")
    wrong = [a.name for a in cls.archives if a.source != name]
    if wrong:
        raise RegistryError(f"{where}: archives {', '.join(wrong)} must say source={name!r} (where they extract)")


SOURCES: Registry[type[Source]] = Registry("image source", "srloss.data.sources", check=_check_source)


def open_source(spec: dict, verify: bool = True) -> Source:
    """The source object of a dataset definition; ``verify`` checks the files on disk first."""
    source = SOURCES[spec["source"]](spec)
    if verify:
        source.verify()
    return source


def dataset_frames(spec: dict) -> int:
    """Frames per sample of a dataset definition: ``degradation.frames``, else its source's ``default_frames``."""
    frames = (spec.get("degradation") or {}).get("frames")  # null: not set (the schema's default)
    if frames:
        return int(frames)
    return SOURCES[spec["source"]].default_frames if spec.get("source") else 1  # no source: single images
