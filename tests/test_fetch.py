"""Downloads against a real HTTP server on 127.0.0.1, and extraction of hostile archives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from srloss.data.fetch import FetchError, UnsafeArchiveError, download, extract, fetch

PAYLOAD = os.urandom(300_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the path selects a misbehaviour."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/missing.bin":
            return self.send_error(404, "Not Found")
        if self.path == "/broken.bin":
            return self.send_error(500, "Internal Server Error")
        body = PAYLOAD
        if self.path == "/corrupt.bin":
            body = PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 0xFF])
        if self.path.startswith("/archive/"):
            body = server.files[self.path.removeprefix("/archive/")]
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        chunk = body[start:]
        if self.path == "/flaky.bin" and server.drops > 0:
            server.drops -= 1  # send a third of what was promised, then drop the connection
            self.wfile.write(chunk[: len(chunk) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.requests, httpd.drops, httpd.files = [], 0, {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


NO_SLEEP = {"sleep": lambda s: None, "timeout": 10}


def test_normal_download_and_second_run_downloads_nothing(server, tmp_path):
    dest = tmp_path / "a.bin"
    download(server.url + "/good.bin", dest, size=len(PAYLOAD), md5=MD5, **NO_SLEEP)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.bin.part").exists()
    download(server.url + "/good.bin", dest, size=len(PAYLOAD), md5=MD5, **NO_SLEEP)
    assert len(server.requests) == 1


def test_interrupted_download_is_resumed_with_range(server, tmp_path):
    server.drops = 2
    pauses = []
    dest = download(
        server.url + "/flaky.bin",
        tmp_path / "f.bin",
        size=len(PAYLOAD),
        md5=MD5,
        sleep=pauses.append,
        backoff=0.5,
        timeout=10,
    )
    assert dest.read_bytes() == PAYLOAD
    ranges = [r for _, r in server.requests]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[2].startswith("bytes=")
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 0 < starts[0] < starts[1] < len(PAYLOAD)  # each resume continues where the last stopped
    assert pauses == [0.5, 1.0]  # exponential backoff


def test_partial_file_from_a_killed_run_is_resumed(server, tmp_path):
    (tmp_path / "k.bin.part").write_bytes(PAYLOAD[:1000])
    download(server.url + "/good.bin", tmp_path / "k.bin", size=len(PAYLOAD), md5=MD5, **NO_SLEEP)
    assert server.requests == [("/good.bin", "bytes=1000-")]
    assert (tmp_path / "k.bin").read_bytes() == PAYLOAD


def test_corrupt_download_is_retried_then_fails_clearly(server, tmp_path):
    with pytest.raises(FetchError, match=r"corrupt\.bin.*3 attempts.*md5"):
        download(server.url + "/corrupt.bin", tmp_path / "c.bin", size=len(PAYLOAD), md5=MD5, retries=3, **NO_SLEEP)
    assert [r for _, r in server.requests] == [None, None, None]  # each retry starts from scratch
    assert list(tmp_path.iterdir()) == []  # no final file, no partial left behind


def test_404_fails_at_once_and_500_is_retried(server, tmp_path):
    with pytest.raises(FetchError, match=r"missing\.bin: HTTP 404"):
        download(server.url + "/missing.bin", tmp_path / "m.bin", retries=4, **NO_SLEEP)
    assert len(server.requests) == 1
    with pytest.raises(FetchError, match=r"broken\.bin.*4 attempts.*HTTP 500"):
        download(server.url + "/broken.bin", tmp_path / "b.bin", retries=4, **NO_SLEEP)
    assert len(server.requests) == 5
    assert list(tmp_path.iterdir()) == []


def test_existing_file_with_wrong_checksum_is_an_error(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"nope")
    with pytest.raises(FetchError, match="x.bin exists but does not match"):
        download("http://127.0.0.1:9/never", tmp_path / "x.bin", md5=MD5, **NO_SLEEP)


# ----- archives -------------------------------------------------------------------------


def _zip(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, link in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, link)
    return buf.getvalue()


def _tar(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, link in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = link
            tf.addfile(info)
    return buf.getvalue()


def test_fetch_downloads_extracts_and_marks_complete(server, tmp_path):
    data = _zip({"DIV2K_train_HR/0001.png": b"one", "DIV2K_train_HR/0002.png": b"two"})
    server.files["d.zip"] = data
    target, marker = tmp_path / "ds" / "DIV2K_train_HR", tmp_path / "ds" / ".fetched" / "d.json"
    fetch(
        server.url + "/archive/d.zip",
        tmp_path / "dl" / "d.zip",
        target,
        marker,
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        **NO_SLEEP,
    )
    assert sorted(p.name for p in target.iterdir()) == ["0001.png", "0002.png"]  # top folder stripped
    assert json.loads(marker.read_text())["md5"] == hashlib.md5(data).hexdigest()
    fetch(
        server.url + "/archive/d.zip", tmp_path / "dl" / "d.zip", target, marker, size=len(data), md5=None, **NO_SLEEP
    )
    assert len(server.requests) == 1  # second run: nothing downloaded
    assert [p.name for p in (tmp_path / "ds").iterdir() if p.name.startswith(".") and p.name != ".fetched"] == []


@pytest.mark.parametrize("make", [_zip, _tar], ids=["zip", "tar"])
@pytest.mark.parametrize(
    "members,links,match",
    [
        ({"ok/a.txt": b"a", "ok/../../evil.txt": b"x"}, None, r"'\.\.'"),
        ({"ok/a.txt": b"a", "/tmp/srloss-evil-abs.txt": b"x"}, None, "absolute path"),
        ({"ok/a.txt": b"a"}, {"ok/link": "../../outside"}, "symbolic link|is a link"),
    ],
    ids=["zip-slip", "absolute", "symlink"],
)
def test_malicious_archives_are_rejected_with_nothing_written(make, members, links, match, tmp_path):
    archive = tmp_path / "evil.bin"
    archive.write_bytes(make(members, links))
    outer = tmp_path / "outer"
    target = outer / "inner" / "target"
    target.parent.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError, match=match):
        extract(archive, target)
    assert list(target.parent.iterdir()) == []  # no target, no temporary folder
    assert not (tmp_path / "evil.txt").exists() and not (outer / "evil.txt").exists()
    assert not Path("/tmp/srloss-evil-abs.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.bin", "outer"]


def test_extract_tar_replaces_an_old_target_atomically(tmp_path):
    archive = tmp_path / "b.tar"
    archive.write_bytes(_tar({"benchmark/Set5/HR/baby.png": b"x", "benchmark/Set14/HR/lenna.png": b"y"}))
    target = tmp_path / "benchmark"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    extract(archive, target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*.png")) == [
        "Set14/HR/lenna.png",
        "Set5/HR/baby.png",
    ]
    assert not (target / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "benchmark"]


def test_command_line_used_by_the_workflow(server, tmp_path):
    from srloss.data.fetch import main

    data = _tar({"db/train/s/hr.png": b"h"})
    server.files["db.tar"] = data
    marker = tmp_path / "m" / "web.json"
    assert (
        main(
            [
                "--url",
                server.url + "/archive/db.tar",
                "--archive",
                str(tmp_path / "dl" / "db.tar"),
                "--target",
                str(tmp_path / "web"),
                "--marker",
                str(marker),
                "--md5",
                hashlib.md5(data).hexdigest(),
                "--size",
                str(len(data)),
            ]
        )
        == 0
    )
    assert (tmp_path / "web" / "train" / "s" / "hr.png").read_bytes() == b"h" and marker.exists()
    local = tmp_path / "user.tar"
    local.write_bytes(data)
    main(
        [
            "--local",
            "--archive",
            str(local),
            "--target",
            str(tmp_path / "mlfdb"),
            "--marker",
            str(tmp_path / "m" / "local.json"),
        ]
    )
    assert (tmp_path / "mlfdb" / "train" / "s" / "hr.png").exists()
    with pytest.raises(SystemExit, match="archive not found"):
        main(
            [
                "--local",
                "--archive",
                str(tmp_path / "nope.tar"),
                "--target",
                str(tmp_path / "x"),
                "--marker",
                str(tmp_path / "x.json"),
            ]
        )


def test_download_logs_progress_bytes_percent_and_rate(server, tmp_path, caplog):
    caplog.set_level("INFO", logger="srloss.data.fetch")
    download(
        server.url + "/good.bin",
        tmp_path / "p.bin",
        size=len(PAYLOAD),
        md5=MD5,
        chunk=50_000,
        progress_every=0,
        **NO_SLEEP,
    )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("p.bin: ")]
    assert len(lines) >= 6  # one per 50 kB block with progress_every=0, plus the final line
    assert lines[0].startswith("p.bin: 0.1 MB of 0.3 MB (16.7%)") and lines[-1].startswith(
        "p.bin: 0.3 MB of 0.3 MB (100.0%)"
    )
    assert all(line.endswith(" MB/s") for line in lines)


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "stderr,forced,bar", [(_Terminal, None, True), (io.StringIO, None, False), (io.StringIO, True, True)]
)
def test_progress_bar_on_a_terminal_log_lines_elsewhere(server, tmp_path, caplog, monkeypatch, stderr, forced, bar):
    caplog.set_level("INFO", logger="srloss.data.fetch")
    monkeypatch.setattr(sys, "stderr", stderr())
    download(server.url + "/good.bin", tmp_path / "t.bin", size=len(PAYLOAD), md5=MD5, progress_bar=forced, **NO_SLEEP)
    shown = sys.stderr.getvalue()
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("t.bin: ")]
    assert ("t.bin: 100%" in shown and "300k/300k" in shown) == bar  # tqdm's bar, with the bytes
    assert bool(logged) != bar  # the log lines of a job's log file, when there is no bar
    assert (tmp_path / "t.bin").read_bytes() == PAYLOAD


def test_progress_is_logged_at_the_interval_with_time_left(caplog):
    from srloss.data.fetch import Progress

    caplog.set_level("INFO", logger="srloss.data.fetch")
    now = [0.0]
    progress = Progress("DIV2K_train_HR.zip", 1_000_000_000, 3_000_000_000, every=10.0, clock=lambda: now[0])
    for _ in range(25):  # 25 s at 20 MB/s, resumed from 1 GB
        now[0] += 1.0
        progress.update(20_000_000)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "DIV2K_train_HR.zip: 1.20 GB of 3.00 GB (40.0%), 2 min left, 20.0 MB/s",
        "DIV2K_train_HR.zip: 1.40 GB of 3.00 GB (46.7%), 80 s left, 20.0 MB/s",
    ]


def test_extracted_dataset_is_readable_by_the_group(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"top/x.txt": b"x"}))
    old = os.umask(0o022)
    try:
        extract(archive, tmp_path / "out")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755  # not mkdtemp's private 0700
    assert (tmp_path / "out/x.txt").stat().st_mode & 0o777 == 0o644
