"""What a dataset definition (config ``datasets.<name>``) says, asked of its source.

What each split's shard depends on (``split_spec``, ``split_fingerprint``), what the workflow
fetches first (``archives_to_fetch``, ``fetch_inputs``), and the checks of its files that run at
every parse (``check_files``). Nothing here names a source: each answers for itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from srloss.data.content import DigestCache
from srloss.data.images import size_problem
from srloss.data.sources.base import SOURCES, SPLITS, Archive, Source, fetch_marker, open_source, unpack_marker
from srloss.data.sources.files import DatasetError, files_fingerprint, is_dir

# Keys of a dataset definition that shape every split's shard; patch_size and stride shape the
# training patches only, and `url` (a mirror of the same verified archives) shapes nothing.
SHARED_KEYS = ("source", "archive", "degradation")
# Where a copy lies on disk: not what the shard is made of (the content of its files is,
# ``split_fingerprint``), so moving the folder or pointing `root` at it through a symbolic link
# reruns nothing. The prepare job receives it apart from its identity (``job_spec``).
LOCATION_KEYS = ("root",)
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


def location(spec: dict) -> dict:
    """Where a dataset's files lie (``LOCATION_KEYS``): what the prepare job needs beside its identity."""
    return {k: spec[k] for k in LOCATION_KEYS if k in spec}


def job_spec(spec: dict, split: str, scale: int) -> dict:
    """What a prepare job reads: its identity (``split_spec``) and where the files lie (``location``)."""
    return {**split_spec(spec, split, scale), **location(spec)}


def split_names(spec: dict, split: str, source: Source | None = None) -> list[str]:
    """The sample names of one split, with ranges and whole sets expanded (``Source.names``)."""
    return (source or open_source(spec, verify=False)).names(split)


def split_fingerprint(spec: dict, split: str, cache: DigestCache | None = None) -> str:
    """``files_fingerprint`` of the files a split is read from (``Source.tracked_files``); a dataset
    that cannot be read yet gets its error's hash (the prepare job then fails with that error)."""
    try:
        return files_fingerprint(open_source(spec, verify=False).tracked_files(split), cache)
    except DatasetError as e:
        return "unreadable-" + hashlib.sha256(str(e).encode()).hexdigest()[:12]


def all_archives() -> dict[str, Archive]:
    """Every archive some source downloads, by name."""
    return {a.name: a for source in SOURCES.values() for a in source.archives}


def archives_to_fetch(spec: dict) -> list[Archive]:
    """The archives the workflow must download for this dataset (none for a copy on disk, ``root``)."""
    if spec.get("root"):
        return []
    return list(SOURCES[spec["source"]].archives)


def fetch_inputs(spec: dict) -> list[Path]:
    """What the prepare job needs first: the markers of downloaded archives, or of the user's
    ``archive`` extracted (``fetch_marker``, ``unpack_marker``)."""
    inputs = [fetch_marker(a) for a in archives_to_fetch(spec)]
    if spec.get("archive"):
        inputs.append(unpack_marker(SOURCES.canonical(spec["source"])))
    return inputs


def _of_source(datasets: dict, source: str, key: str) -> str | None:
    """``key`` of the first dataset of ``source`` (a registered name) that sets it, else None."""
    return next(
        (ds[key] for ds in datasets.values() if SOURCES.canonical(ds["source"]) == source and ds.get(key)), None
    )


def mirror_of(datasets: dict, source: str) -> str | None:
    """The ``url`` (mirror base) of the first dataset of ``source`` that sets one, else None."""
    return _of_source(datasets, source, "url")


def local_archive(datasets: dict, source: str) -> str:
    """The ``archive`` of the first dataset of ``source`` that sets one (extracted to resources/datasets/<source>/)."""
    archive = _of_source(datasets, source, "archive")
    if archive is None:
        raise KeyError(f"no dataset of source {source!r} sets `archive`")
    return archive


def check_files(spec: dict, scales: list[int]) -> None:
    """Checks of a dataset's files cheap enough for every parse (files change; this is not cached).

    ``root`` must be a folder, and images whose sizes the source reads from their headers
    (``Source.header_sizes``) must be large enough for their split (``images.size_problem``), so
    the mistake shows before any job runs; the prepare job checks every image again as it reads
    the pixels. Raises ``DatasetError`` whose ``key`` names the dataset key concerned.
    """
    root = spec.get("root")
    if root and not is_dir(Path(root)):
        raise DatasetError(
            f"folder {root!r} does not exist (relative paths start at the working directory)", key="root"
        )
    source = open_source(spec, verify=False)
    for split in (s for s in SPLITS if s in spec.get("splits", {})):  # a test set has a test split only
        for what, size in source.header_sizes(split):
            problem = size_problem(size, split, max(patch_at(spec, "patch_size", s) for s in scales), scales)
            if problem:
                raise DatasetError(f"{what} {problem}", key=f"splits.{split}")
