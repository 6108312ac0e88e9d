"""Files known by content: digests remembered per file state, shard manifests, code hashed as code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from srloss.codehash import code_text
from srloss.data.content import DigestCache, file_sha256
from srloss.data.manifest import ShardDamaged, checked_shard, manifest_path, read_manifest, verify_shard
from srloss.data.shards import write_images, write_patches
from srloss.data.sources import files_fingerprint

SPEC = {"source": "packaged", "splits": {"test": ["astronaut"]}}


def _images_shard(path: Path) -> Path:
    lr = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    hr = np.zeros((3, 16, 16), np.uint8)
    write_images(path, [("a", lr, hr), ("b", lr, hr)], 2, SPEC)
    return path


def test_digest_cache_reads_a_file_again_only_when_its_state_changed(tmp_path, monkeypatch):
    f = tmp_path / "img.png"
    f.write_bytes(b"abcd")
    cache = DigestCache(tmp_path / "cache.json")
    first = cache.digest(f)
    assert first == file_sha256(f)
    reads = []
    monkeypatch.setattr("srloss.data.content.file_sha256", lambda p: reads.append(p) or "x")
    assert cache.digest(f) == first and reads == []  # unchanged: not read
    st = f.stat()
    f.write_bytes(b"abce")  # same size, then the old modification time back (`touch -r`)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.digest(f) == "x" and len(reads) == 1  # the inode change time gave it away


def test_digest_cache_persists_and_a_broken_cache_file_is_ignored(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 10)
    cache = DigestCache(tmp_path / "c.json")
    digest = cache.digest(f)
    cache.save()
    assert DigestCache(tmp_path / "c.json").digest(f) == digest
    (tmp_path / "c.json").write_text("{not json")
    assert DigestCache(tmp_path / "c.json").digest(f) == digest


def test_files_fingerprint_follows_content_not_timestamps_or_places(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(b"one")
    before = files_fingerprint([("a.png", f)])
    os.utime(f, (1, 1))
    assert files_fingerprint([("a.png", f)]) == before  # touched, same content
    moved = tmp_path / "elsewhere" / "a.png"
    moved.parent.mkdir()
    moved.write_bytes(b"one")
    assert files_fingerprint([("a.png", moved)]) == before  # another folder, same name and content
    f.write_bytes(b"two")  # same size, new content
    assert files_fingerprint([("a.png", f)]) != before
    assert files_fingerprint([("a.png", f), ("gone.png", tmp_path / "gone.png")]) != files_fingerprint([("a.png", f)])


def test_shards_carry_a_manifest_that_verifies(tmp_path):
    shard = _images_shard(tmp_path / "test.h5")
    manifest = read_manifest(shard)
    assert manifest["size"] == shard.stat().st_size and manifest["sha256"] == file_sha256(shard)
    assert manifest["kind"] == "images" and manifest["samples"] == 2 and manifest["scale"] == 2
    assert verify_shard(shard) == manifest
    patches = tmp_path / "train.h5"
    write_patches(patches, np.zeros((4, 3, 8, 8), np.uint8), np.zeros((4, 3, 16, 16), np.uint8), 2, SPEC)
    assert read_manifest(patches)["kind"] == "patches" and read_manifest(patches)["samples"] == 4


def test_verify_shard_names_truncation_edits_and_a_missing_manifest(tmp_path):
    shard = _images_shard(tmp_path / "test.h5")
    size = shard.stat().st_size
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF  # same size, one byte changed
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardDamaged, match=rf"{shard}: damaged shard: its content differs .*SHA-256"):
        verify_shard(shard)
    os.truncate(shard, size // 2)
    with pytest.raises(ShardDamaged, match=rf"{size // 2} bytes where its writer wrote {size}"):
        verify_shard(shard)
    manifest_path(shard).unlink()
    with pytest.raises(ShardDamaged, match="without a readable manifest"):
        verify_shard(shard)


def test_a_job_refuses_a_damaged_shard_before_writing_anything(tmp_path):
    from srloss.evaluation.measure import evaluate

    shard = _images_shard(tmp_path / "test.h5")
    os.truncate(shard, 64)
    spec = {"arch": "bicubic", "scale": 2, "model_options": {}, "model": "bicubic", "dataset": "d"}
    with pytest.raises(ShardDamaged, match="run `snakemake` again: it prepares the shard again"):
        evaluate(spec, None, shard, tmp_path / "m.csv", tmp_path / "e.json")
    assert not (tmp_path / "m.csv").exists() and not (tmp_path / "e.json").exists()
    with pytest.raises(ShardDamaged):
        checked_shard(shard)


def test_code_is_hashed_as_code_not_as_text(tmp_path):
    a = tmp_path / "a.py"
    a.write_text('"""Doc."""\n\ndef f(x):\n    """Twice x."""\n    return 2 * x  # double\n')
    b = tmp_path / "b.py"
    b.write_text('"""Other doc."""\n# a comment\n\n\ndef f(x):\n    return 2 * x\n')
    c = tmp_path / "c.py"
    c.write_text("def f(x):\n    return 3 * x\n")
    assert code_text(a) == code_text(b)
    assert code_text(a) != code_text(c)
