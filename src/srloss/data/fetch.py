"""Download and unpack dataset archives: resumable, verified, safe, atomic.

* ``download`` fetches a URL to a file over HTTP(S). Bytes arrive in ``<file>.part``; an
  interrupted transfer (dropped connection, killed job) is resumed with a ``Range`` request,
  transient failures (connection errors, 5xx, 408, 429, short reads) are retried with
  exponential backoff, and the file is renamed to its final name only after its size and md5
  match. A checksum mismatch discards the partial file and retries from scratch; a client
  error such as 404 fails at once. An existing file with the right checksum is not downloaded
  again.
* ``extract`` unpacks a zip or tar archive into a folder that appears only when complete (it
  is built under a temporary name and renamed). Every member is checked before anything is
  written: absolute paths, ``..`` components, symbolic and hard links and device files are
  refused (zip-slip, CVE-2007-4559 style attacks), so nothing can land outside the target.
  The extracted folder gets the user's umask (not the private mode of a temporary folder).
* Progress: on a terminal, tqdm's progress bar; elsewhere (a job's log file, tests) one log line
  every ``progress_every`` seconds (default 10): bytes so far, percent of the expected size, rate
  in MB/s and the time left. ``progress_bar=True``/``False`` forces the bar on or off.

Hand-written where the libraries fall short: pooch and ``torch.hub.download_url_to_file`` cannot
resume an interrupted download (DIV2K's training archive is 3.5 GB), and ``zipfile`` silently
rewrites unsafe member names instead of refusing the archive (``tarfile``'s ``filter="data"`` is
used, behind stricter checks).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

from tqdm import tqdm

from srloss.atomic import current_umask, fsync_dir, fsync_file, remove_orphans, write_text
from srloss.errors import UserError, one_line_errors

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class FetchError(UserError, RuntimeError):
    """A download failed for good; the message names the URL and why."""


class UnsafeArchiveError(UserError, ValueError):
    """An archive member would be written outside the target folder (or is a link/device)."""


class _Retry(Exception):
    """A transient failure: try again (after a pause)."""


def md5sum(path: str | Path) -> str:
    """Hex md5 of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def _verify(path: Path, size: int | None, md5: str | None) -> str | None:
    """None if ``path`` has the expected size and md5, else what is wrong."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"size {actual} bytes, expected {size}"
    if md5 is not None:
        digest = md5sum(path)
        if digest != md5.lower():
            return f"md5 {digest}, expected {md5.lower()}"
    return None


def _megabytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class Progress:
    """Logs a download's progress at most every ``every`` seconds: bytes, percent, MB/s, time left.

    What a job's log file gets instead of tqdm's bar, whose carriage-return redraws suit terminals only.
    """

    def __init__(self, name: str, start: int, total: int | None, every: float = 10.0, clock=time.monotonic):
        self.name, self.total, self.every, self.clock = name, total, every, clock
        self.start_bytes, self.bytes = start, start
        self.t0 = self.last = clock()

    def update(self, n: int) -> None:
        self.bytes += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        rate = (self.bytes - self.start_bytes) / max(now - self.t0, 1e-9)
        text = f"{self.name}: {_megabytes(self.bytes)}"
        if self.total:
            left = (self.total - self.bytes) / rate if rate > 0 else float("inf")
            eta = "" if left == float("inf") else f", {left:.0f} s left" if left < 90 else f", {left / 60:.0f} min left"
            text += f" of {_megabytes(self.total)} ({100 * self.bytes / self.total:.1f}%){eta}"
        return text + f", {rate / 1e6:.1f} MB/s"

    def close(self) -> None:
        log.info("%s", self.line())


def _progress(name: str, start: int, total: int | None, every: float, bar: bool | None) -> tqdm | Progress:
    """tqdm's bar when ``bar`` is True, or None and stderr is a terminal; else log lines (``Progress``)."""
    shown = tqdm(
        desc=name, initial=start, total=total, unit="B", unit_scale=True, disable=None if bar is None else not bar
    )
    return Progress(name, start, total, every) if shown.disable else shown


def _transfer(
    url: str, part: Path, size: int | None, timeout: float, chunk: int, progress_every: float, progress_bar: bool | None
) -> None:
    """One HTTP request that appends to ``part`` (resuming from its current length)."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        return  # complete (or too long: the checksum decides)
    request = urllib.request.Request(url, headers={"User-Agent": "srloss-fetch"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # range not satisfiable: our partial file is no good, start over
            part.unlink(missing_ok=True)
            raise _Retry(f"HTTP 416 for a resume from byte {have}") from e
        if e.code in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {e.code} {e.reason}") from e
        raise FetchError(
            f"{url}: HTTP {e.code} {e.reason} (not retried: the server says the request itself is wrong)"
        ) from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise _Retry(f"{type(e).__name__}: {e}") from e
    with response:
        mode = "ab"
        if have and response.status != 206:
            log.info("%s: server ignored the Range request; downloading from the start", url)
            mode = "wb"
        elif have:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start != str(have):
                raise _Retry(f"server resumed at {start!r}, expected byte {have}")
        expected = response.headers.get("Content-Length")
        received = 0
        start = have if mode == "ab" else 0
        total = size or (start + int(expected) if expected is not None else None)
        progress = _progress(part.name.removesuffix(".part"), start, total, progress_every, progress_bar)
        try:
            with open(part, mode) as f:
                while block := response.read(chunk):
                    f.write(block)
                    received += len(block)
                    progress.update(len(block))
        except (OSError, http.client.HTTPException) as e:
            raise _Retry(f"connection lost after {received} bytes: {e}") from e
        finally:
            progress.close()
        if expected is not None and received < int(expected):
            raise _Retry(f"connection closed after {received} of {expected} bytes")


def download(
    url: str,
    dest: str | Path,
    *,
    size: int | None = None,
    md5: str | None = None,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
    chunk: int = 1 << 20,
    sleep: Callable[[float], None] = time.sleep,
    progress_every: float = 10.0,
    progress_bar: bool | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming, retrying and verifying; return ``dest``.

    ``retries`` is the number of attempts; the pause before attempt k+1 is ``backoff * 2**(k-1)``
    seconds. Progress: tqdm's bar on a terminal (``progress_bar`` forces it on or off), else a log
    line every ``progress_every`` seconds. Raises ``FetchError`` naming the URL and the last failure.
    """
    dest = Path(dest)
    if dest.exists():
        problem = _verify(dest, size, md5)
        if problem is None:
            log.info("%s: already present and verified, not downloading", dest)
            return dest
        raise FetchError(
            f"{dest} exists but does not match the expected archive ({problem}); delete it to download again"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last = "no attempt made"
    # a plain loop: tenacity's Retrying would be as long for this one call site
    for attempt in range(1, retries + 1):
        try:
            _transfer(url, part, size, timeout, chunk, progress_every, progress_bar)
            problem = _verify(part, size, md5)
            if problem is not None:
                part.unlink()
                raise _Retry(f"downloaded file is corrupt: {problem}")
            fsync_file(part)
            os.replace(part, dest)
            fsync_dir(dest.parent)
            log.info("%s: downloaded and verified -> %s", url, dest)
            return dest
        except _Retry as e:
            last = str(e)
            log.warning("%s: attempt %d/%d failed: %s", url, attempt, retries, last)
            if attempt < retries:
                sleep(backoff * 2 ** (attempt - 1))
    raise FetchError(f"{url}: download failed after {retries} attempts; last error: {last}")


# ----- safe extraction ---------------------------------------------------------------------


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    if ".." in path.parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} contains '..' and would land outside the target; refusing to extract"
        )
    return path


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    for info in zf.infolist():
        _check_member_name(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UnsafeArchiveError(
                f"{archive}: member {info.filename!r} is not a regular file or folder; refusing to extract"
            )
    return zf.infolist()


# Stricter than tarfile's filter="data" (which strips a leading "/" and allows links inside the
# target): a dataset archive has only files and folders, so anything else means a broken archive.
def _tar_members(archive: Path, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tf.getmembers()
    for m in members:
        _check_member_name(archive, m.name)
        if m.issym() or m.islnk():
            raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a link (to {m.linkname!r}); refusing to extract")
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(
                f"{archive}: member {m.name!r} is not a regular file or folder; refusing to extract"
            )
    return members


def _single_top(names: list[str]) -> str | None:
    tops = {PurePosixPath(n.replace("\\", "/")).parts[0] for n in names if n.strip("/")}
    nested = any(len(PurePosixPath(n.replace("\\", "/")).parts) > 1 for n in names)
    return next(iter(tops)) if len(tops) == 1 and nested else None


def extract(archive: str | Path, target: str | Path, *, strip_top: bool = True) -> Path:
    """Unpack a .zip or .tar(.gz/.bz2/.xz) ``archive`` into the folder ``target``, atomically.

    With ``strip_top`` and a single top-level folder in the archive, its contents become
    ``target``'s contents (``DIV2K_train_HR.zip`` -> ``target/0001.png``). An existing
    ``target`` is replaced only after the new one is complete. Raises ``UnsafeArchiveError``
    before writing anything if any member is unsafe.
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(target)  # folders left by an extraction that was killed
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it private (0700); the dataset is not
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = _zip_members(archive, zf)
                for info in members:  # not extractall, which on POSIX keeps a Windows zip's backslashes in names
                    out = tmp / _check_member_name(archive, info.filename)
                    if info.is_dir():
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                names = [i.filename for i in members]
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = _tar_members(archive, tf)
                tf.extractall(tmp, members=members, filter="data")  # second line of defence
                names = [m.name for m in members]
        else:
            raise ValueError(f"{archive}: not a zip or tar archive")
        root = tmp
        top = _single_top(names) if strip_top else None
        if top is not None:
            root = tmp / top
        _assert_inside(tmp, root)
        os.chmod(root, 0o777 & ~current_umask())
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(root, target)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _assert_inside(base: Path, path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        if p.is_symlink() or not p.resolve().is_relative_to(base.resolve()):
            raise UnsafeArchiveError(f"extracted path {p} escapes {base}")


def fetch(
    url: str,
    archive: str | Path,
    target: str | Path,
    marker: str | Path,
    *,
    size: int | None,
    md5: str | None,
    **download_options,
) -> None:
    """Download ``url`` to ``archive`` (verified), extract it to ``target``, then write ``marker``.

    The marker (JSON: url, md5, target) is written last, so its presence means the dataset is
    complete; with the marker in place nothing is downloaded or extracted again.
    """
    marker = Path(marker)
    if marker.exists() and Path(target).is_dir():
        log.info("%s: already fetched (%s)", target, marker)
        return
    download(url, archive, size=size, md5=md5, **download_options)
    extract(archive, target)
    write_text(
        marker,
        json.dumps({"url": url, "md5": md5, "size": size, "archive": str(archive), "target": str(target)}, indent=2),
    )


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """``python -m srloss.data.fetch``: what the workflow's fetch rules call."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m srloss.data.fetch", description="download (or take a local archive), verify and extract"
    )
    parser.add_argument("--url", help="archive URL (omit with --local)")
    parser.add_argument(
        "--archive", required=True, help="where the archive is stored (or the local archive with --local)"
    )
    parser.add_argument(
        "--local", action="store_true", help="the archive is a local file supplied by the user: extract only"
    )
    parser.add_argument("--target", required=True, help="folder to extract into (replaced atomically)")
    parser.add_argument("--marker", required=True, help="JSON file written last, when everything is in place")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--md5", default=None)
    parser.add_argument("--retries", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.local:
        if not Path(args.archive).is_file():
            raise SystemExit(f"{args.archive}: archive not found")
        extract(args.archive, args.target)
        write_text(
            args.marker, json.dumps({"archive": str(Path(args.archive).resolve()), "target": args.target}, indent=2)
        )
    else:
        if not args.url:
            raise SystemExit("--url is required unless --local is given")
        fetch(args.url, args.archive, args.target, args.marker, size=args.size, md5=args.md5, retries=args.retries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
