"""Atomic, durable file writes: a partial output must never be mistaken for a finished one.

Every output goes through ``atomic_path``: it is written to a temporary file beside its final
name (``.<name>.XXXXXXXX.part``), flushed to disk (``fsync``), renamed over the final name, and
the folder is fsynced after the rename, so neither a killed job nor a node crash can leave a
complete-looking truncated file. Temporary files are created with mode ``0666`` minus the
user's umask, exactly like a plain ``open(path, "w")``: colleagues who may read the folder can
read the results.

A job killed with SIGKILL leaves its temporary file behind; the job that owns the output
removes such orphans when it starts (``prepare_outputs``), after checking that it can write
its output folders at all (``ensure_writable``), so an unwritable run folder is found before
hours of work, not after them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from srloss.errors import UserError

_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # what tempfile.mkstemp used before, so old orphans match
_TOKEN_LENGTH = 8


class NotWritableError(UserError, OSError):
    """An output folder cannot be created or written."""


def current_umask() -> int:
    """The process's umask (read from /proc on Linux, else set and restored)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.XXXXXXXX.part``."""
    token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(_TOKEN_LENGTH))
    return path.with_name(f".{path.name}.{token}.part")


def _create_temp(path: Path) -> Path:
    """Create an empty temporary file beside ``path`` (mode 0666 minus the umask) and return it."""
    for _ in range(100):
        tmp = temp_name(path)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: could not create a unique temporary file for {path.name}")


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's data to disk (whoever wrote it: h5py, torch.save, pandas)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; flush it and rename it to ``path`` only if the block succeeds.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic on POSIX.
    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temp(path)
    try:
        yield tmp_path
        fsync_file(tmp_path)
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def orphans(path: str | os.PathLike) -> list[Path]:
    """Temporary files (or folders) left beside ``path`` by an interrupted ``atomic_path`` write."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[{_TOKEN_CHARS}]{{{_TOKEN_LENGTH}}}\.part")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    return sorted(p for p in entries if pattern.fullmatch(p.name))


def remove_orphans(path: str | os.PathLike) -> list[Path]:
    """Delete the orphaned temporary files of ``path``; call only from the job that owns ``path``."""
    removed = orphans(path)
    for p in removed:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return removed


def ensure_writable(folder: str | os.PathLike) -> None:
    """Create ``folder`` if needed and prove that a file can be written in it; else ``NotWritableError``."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = _create_temp(folder / ".srloss-write-test")
        probe.unlink()
    except OSError as e:
        reason = e.strerror or str(e)
        raise NotWritableError(
            f"{folder}: output folder is not writable ({reason}); fix its permissions "
            f"or choose another working directory before running this job"
        ) from e


def prepare_outputs(*paths: str | os.PathLike) -> None:
    """At job start: check every output folder is writable and remove orphans of these outputs."""
    for folder in sorted({Path(p).parent for p in paths}):
        ensure_writable(folder)
    for p in paths:
        remove_orphans(p)
