"""Reading a dataset's folders: image files by name, checked so that a name means one file.

A symbolic link loop is reported as such, naming the link (``Path.is_dir`` alone would call it
missing), and two files with one name (``e2.png`` and ``e2.jpg``) are refused rather than one of
them being used silently. ``files_fingerprint`` knows files by content, so the prepare job reruns
when an image changes.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from srloss.data.content import DigestCache
from srloss.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm")


class DatasetError(UserError, ValueError):
    """A dataset on disk is missing or does not have the expected contents.

    ``key``: the dataset key the problem concerns (``root``, ``splits.test``), when one does, so
    the config check can name it.
    """

    def __init__(self, message: str, key: str = ""):
        super().__init__(message)
        self.key = key


def _loops(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ELOOP
    return False


def check_no_loop(path: Path) -> None:
    """Raise ``DatasetError`` naming the link when ``path`` (or a folder above it) is a symbolic link loop."""
    if not _loops(path):
        return
    link = next((p for p in reversed([path, *path.parents]) if p.is_symlink() and _loops(p)), path)
    raise DatasetError(
        f"{link}: symbolic link loop (the link leads, directly or through other links, back to itself); "
        "point it at the file or folder it should name, or remove it"
    )


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, except that a symbolic link loop is an error naming it (not "no folder")."""
    check_no_loop(path)
    return path.is_dir()


def is_file(path: Path) -> bool:
    """``path.is_file()``, except that a symbolic link loop is an error naming it (not "no file")."""
    check_no_loop(path)
    return path.is_file()


def image_files(folder: Path) -> dict[str, Path]:
    """The image files of ``folder`` (suffixes ``IMAGE_SUFFIXES``) by name: the file name without suffix.

    Two files with one name are refused, naming both: which one the name means would be a guess.
    """
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not is_file(path):
            continue
        if path.stem in files:
            raise DatasetError(
                f"{folder}: {files[path.stem].name} and {path.name} have the same name {path.stem!r} (images are "
                "named by file name without suffix); rename or remove one of them"
            )
        files[path.stem] = path
    return files


def found(names: list[str], what: str = "images") -> str:
    """What a folder holds, for an error: "found 3 images, e.g. a, b, c" or "found no images"."""
    if not names:
        return f"found no {what}"
    return f"found {len(names)} {what}, e.g. {', '.join(names[:5])}"


def files_fingerprint(files: list[tuple[str, Path]], cache: DigestCache | None = None) -> str:
    """A fingerprint of named files by content: each (name, SHA-256 of its bytes), hashed.

    Editing a file in place (even to the same size, with its old modification time restored),
    adding or removing one changes it, so the prepare job reruns; touching, copying or moving a
    file without changing it does not. ``cache`` spares reading files that did not change since
    the last parse (``content.DigestCache``).
    """
    cache = cache or DigestCache()
    h = hashlib.sha256()
    for name, path in files:
        try:
            h.update(f"{name}\t{cache.digest(path)}\n".encode())
        except OSError:
            h.update(f"{name}\tmissing\n".encode())
    return h.hexdigest()[:16]
