"""Where HR images (or real LR/HR sequences) come from: the image sources, one module each.

A dataset's ``source`` (config key ``datasets.<name>.source``) names a member of ``SOURCES``:
``packaged`` (the embedded demo photographs; earlier name ``skimage``), ``div2k``, ``benchmark``,
``folder`` and ``mlfdb`` (see their modules). Each is a ``Source`` subclass that declares the
dataset keys it accepts, its config checks, and how to list, fingerprint and load a split's
samples (``base``); adding a source is one new module here, registered with
``@SOURCES.register("name")``. ``dataset`` asks the sources what a dataset definition needs;
``files`` reads folders (one file per name, symbolic link loops named).

No torch: the workflow imports this package at every parse.
"""

from srloss.data.sources.base import (
    DATASETS_DIR,
    DOWNLOADS_DIR,
    SOURCES,
    SPLITS,
    Archive,
    Source,
    dataset_frames,
    fetch_marker,
    fetch_target,
    open_source,
)
from srloss.data.sources.dataset import (
    all_archives,
    archives_to_fetch,
    at_scale,
    check_files,
    fetch_inputs,
    job_spec,
    local_archive,
    location,
    mirror_of,
    patch_at,
    split_fingerprint,
    split_names,
    split_spec,
)
from srloss.data.sources.files import DatasetError, files_fingerprint

__all__ = [
    "DATASETS_DIR",
    "DOWNLOADS_DIR",
    "SOURCES",
    "SPLITS",
    "Archive",
    "DatasetError",
    "Source",
    "all_archives",
    "archives_to_fetch",
    "at_scale",
    "check_files",
    "dataset_frames",
    "fetch_inputs",
    "fetch_marker",
    "fetch_target",
    "files_fingerprint",
    "job_spec",
    "location",
    "local_archive",
    "mirror_of",
    "open_source",
    "patch_at",
    "split_fingerprint",
    "split_names",
    "split_spec",
]
