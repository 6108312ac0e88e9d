"""Shard manifests: what a shard's writer wrote, so that a damaged shard is named before it is used.

Beside each shard, ``{split}.h5.json`` records the file's size and SHA-256, kind, scale, spec hash
and number of samples. ``verify_shard`` compares a shard with it: the size at once, the digest by
reading the file (or from a ``DigestCache`` when the file is unchanged since it was last read).
A truncated, edited or half-copied shard is then damaged, and:

* the workflow's parse names it and gives it back the timestamp of its manifest (``restore_stamp``),
  so Snakemake does not plan to redo what was made from it; before the first job runs, the
  workflow prepares it again (``srloss.data.prepare.repair_shard``), and when it comes out as its
  manifest says it was, it keeps that old timestamp: the runs made from it are kept, not redone;
* ``train`` and ``evaluate`` check their shards in full at start (``checked_shard``) and stop
  with a message naming the shard, before any output is touched.

No torch, no h5py: the workflow's parse imports this.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from srloss.atomic import write_text
from srloss.data.content import DigestCache, file_sha256
from srloss.errors import UserError


class ShardDamaged(UserError):
    """A shard differs from what its writer wrote (truncated, edited, half copied) or lacks its manifest."""


def manifest_path(shard: str | Path) -> Path:
    """The manifest beside a shard: ``train.h5`` -> ``train.h5.json``."""
    shard = Path(shard)
    return shard.with_name(shard.name + ".json")


def write_manifest(shard: str | Path, kind: str, scale: int, spec_hash: str, samples: int) -> None:
    """Record the finished shard's size and SHA-256 beside it (written after the shard itself, so a
    shard without a manifest is one whose writer did not finish)."""
    shard = Path(shard)
    manifest = {
        "file": shard.name,
        "size": shard.stat().st_size,
        "sha256": file_sha256(shard),
        "kind": kind,
        "scale": int(scale),
        "spec_hash": spec_hash,
        "samples": int(samples),
    }
    write_text(manifest_path(shard), json.dumps(manifest, indent=2, sort_keys=True))


def read_manifest(shard: str | Path) -> dict:
    """A shard's manifest; ``ShardDamaged`` naming the shard if it is missing or unreadable."""
    if not Path(shard).is_file():
        raise ShardDamaged(f"{shard}: no such shard (the prepare rule writes it)")
    path = manifest_path(shard)
    try:
        manifest = json.loads(path.read_text())
        if not {"size", "sha256"} <= set(manifest):
            raise ValueError("size or sha256 missing")
        return manifest
    except (OSError, ValueError) as e:
        raise ShardDamaged(
            f"{shard}: shard without a readable manifest ({path.name}: {getattr(e, 'strerror', None) or e}); "
            "its writer did not finish, or it was made by an older srloss"
        ) from None


def verify_shard(shard: str | Path, cache: DigestCache | None = None) -> dict:
    """Check a shard against its manifest: its size, then its SHA-256 (read from the file, or from
    ``cache`` when the file is unchanged since it was last read). Returns the manifest;
    ``ShardDamaged`` naming the shard and what differs otherwise."""
    manifest = read_manifest(shard)
    size = Path(shard).stat().st_size
    if size != manifest["size"]:
        raise ShardDamaged(
            f"{shard}: damaged shard: {size} bytes where its writer wrote {manifest['size']} (truncated, "
            "overwritten or copied in part)"
        )
    digest = cache.digest(shard) if cache is not None else file_sha256(shard)
    if digest != manifest["sha256"]:
        raise ShardDamaged(
            f"{shard}: damaged shard: its content differs from what its writer wrote (SHA-256 {digest[:12]}..., "
            f"expected {manifest['sha256'][:12]}...; edited or corrupted)"
        )
    return manifest


def restore_stamp(shard: str | Path) -> bool:
    """Give a shard its manifest's modification time (both were written, and touched by Snakemake,
    together): a damaged shard whose damage made it newer does not look newer than what was made
    from it. False if the manifest is missing."""
    try:
        stamp = manifest_path(shard).stat().st_mtime_ns
    except OSError:
        return False
    os.utime(shard, ns=(stamp, stamp))
    return True


def checked_shard(shard: str | Path) -> dict:
    """``verify_shard`` for a job about to read ``shard``: on damage, stop with a message that says
    what to do (nothing of the job's outputs has been touched yet)."""
    try:
        return verify_shard(shard)
    except ShardDamaged as e:
        raise ShardDamaged(
            f"{e}; run `snakemake` again: it prepares the shard again before any job reads it (finished runs are kept)"
        ) from None
