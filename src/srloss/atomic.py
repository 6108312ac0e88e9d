"""Atomic, durable file writes: a partial output must never be mistaken for a finished one.

Every output goes through ``atomic_path``: it is written to a temporary file beside its final
name (``.<name>.XXXXXXXX.part``), flushed to disk (``fsync``), renamed over the final name, and
the folder is fsynced after the rename, so neither a killed job nor a node crash can leave a
complete-looking truncated file. Temporary files are created with mode ``0666`` minus the
user's umask, exactly like a plain ``open(path, "w")``: colleagues who may read the folder can
read the results.

A full disk is named as such (``DiskFull``): a write that fails for lack of space, whatever the
library reports (an OSError, torch's "unexpected pos", HDF5's own error), is reported in one line
with the path, the space left and, where the writer said how much it needs (``size_hint``,
``ensure_space``), that amount. Writers of large files check the space first, so no library is
left to fail (HDF5 can crash the process on a full disk).

A job killed with SIGKILL leaves its temporary file behind; the job that owns the output
removes such orphans when it starts (``prepare_outputs``), after checking that it can write
its output folders at all (``ensure_writable``), so an unwritable run folder is found before
hours of work, not after them.
"""

from __future__ import annotations

import contextlib
import errno
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


class DiskFull(UserError, OSError):
    """An output does not fit on its disk; the message names the path, the space left and the need."""


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def free_space(path: str | os.PathLike) -> int:
    """Bytes free for an unprivileged writer on the filesystem of ``path`` (or its nearest existing parent)."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


# Room left beside a write for the filesystem's and the file format's own bookkeeping.
SPACE_MARGIN = 1 << 20


def disk_full(
    path: str | os.PathLike, needed: int | None = None, written: int | None = None, cause: BaseException | None = None
) -> DiskFull:
    """The one-line error for ``path`` not fitting on its disk (``cause``: what the writer reported,
    when it did not say so itself)."""
    parts = [f"{_size(free_space(path))} free"]
    if needed is not None:
        parts.append(f"{_size(needed)} needed")
    if written:
        parts.append(f"{_size(written)} written before it ran out")
    said = ""
    if cause is not None and not (isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)):
        said = f"; the writer reported {type(cause).__name__}: {str(cause).splitlines()[0][:120] if str(cause) else ''}"
    return DiskFull(
        f"{path}: no space left on the device ({', '.join(parts)}){said}; free some space, or run the study in a "
        "folder on a larger disk"
    )


def ensure_space(path: str | os.PathLike, nbytes: int) -> None:
    """Refuse (``DiskFull``) before writing ``nbytes`` more to ``path`` when they do not fit."""
    if free_space(path) < nbytes + SPACE_MARGIN:
        raise disk_full(path, nbytes)


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


def _out_of_space(error: BaseException, folder: Path) -> bool:
    """Whether a failed write failed for lack of space: the OS says so, or (a library that reports
    it its own way) the disk is as good as full now."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, Exception) and free_space(folder) < SPACE_MARGIN


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, size_hint: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; flush it and rename it to ``path`` only if the block succeeds.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic on POSIX.
    On any exception the temporary file is removed and ``path`` is left untouched; a failure for
    lack of space becomes ``DiskFull``. ``size_hint``: the bytes about to be written, checked
    against the free space first (``ensure_space``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if size_hint is not None:
        ensure_space(path, size_hint)
    tmp_path = _create_temp(path)
    try:
        yield tmp_path
        fsync_file(tmp_path)
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException as e:
        written = tmp_path.stat().st_size if tmp_path.exists() else 0
        tmp_path.unlink(missing_ok=True)
        if not isinstance(e, DiskFull) and _out_of_space(e, path.parent):
            raise disk_full(path, size_hint, written, e) from e
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
