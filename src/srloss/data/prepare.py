"""Prepare one dataset at one scale: load HR images, degrade them, write train/val/test shards.

Images are processed one at a time and their patches appended to the shard, so memory stays
bounded by one image whatever the dataset's size (DIV2K train: 800 images of ~2.8 MP).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from srloss.atomic import prepare_outputs
from srloss.data.degrade import degrade, modcrop
from srloss.data.images import size_problem
from srloss.data.manifest import ShardDamaged, manifest_path, read_manifest
from srloss.data.shards import PatchWriter, write_images
from srloss.data.sources import DatasetError, Source, at_scale, job_spec, open_source
from srloss.data.sources.dataset import LOCATION_KEYS

log = logging.getLogger(__name__)


def crop_patches(hr: np.ndarray, lr: np.ndarray, scale: int, patch: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned LR/HR patch pairs on a regular grid.

    ``hr`` is HxWxC; ``lr`` its (H/scale)x(W/scale)xC downscaled version, or TxhxwxC for a
    multi-frame burst; ``patch`` and ``stride`` are in HR pixels and multiples of ``scale``.
    Returns LR (N, C, p, p) or (N, T, C, p, p) with p = patch/scale, and HR (N, C, patch, patch)
    uint8 arrays.
    """
    if patch % scale or stride % scale:
        raise ValueError(f"patch size {patch} and stride {stride} must be multiples of scale {scale}")
    h, w = hr.shape[:2]
    p = patch // scale
    lrs, hrs = [], []
    for y in range(0, h - patch + 1, stride):
        for x in range(0, w - patch + 1, stride):
            hrs.append(hr[y : y + patch, x : x + patch])
            ly, lx = y // scale, x // scale
            lrs.append(lr[..., ly : ly + p, lx : lx + p, :])
    lead = lr.shape[:-3]
    if not hrs:
        return np.zeros((0, *lead, hr.shape[2], p, p), np.uint8), np.zeros((0, hr.shape[2], patch, patch), np.uint8)
    return np.ascontiguousarray(np.moveaxis(np.stack(lrs), -1, -3)), np.ascontiguousarray(
        np.stack(hrs).transpose(0, 3, 1, 2)
    )


def degrade_pair(
    hr: np.ndarray, scale: int, degradation: dict | None = None, name: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Mod-crop an HR image and make its LR counterpart (HxWxC, or TxhxwxC for bursts), uint8."""
    hr = modcrop(hr, scale)
    return hr, degrade(hr, scale, degradation, name)


def load_pairs(
    spec: dict, split: str, scale: int, source: Source | None = None
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, HR HxWxC, LR [T]xhxwxC) uint8 for every sample of ``split``, one at a time.

    A source gives real LR frames, or the HR image alone: its LR is then made by the configured
    degradation, after an image too small for its split (``images.size_problem``) is refused.
    """
    source = source or open_source(spec)
    for name in source.names(split):
        hr, lr = source.load(split, name, scale)
        if lr is None:
            problem = size_problem((hr.shape[1], hr.shape[0]), split, spec.get("patch_size", 0), [scale])
            if problem:
                raise DatasetError(f"dataset split {split!r}: image {name!r} {problem}")
            hr, lr = degrade_pair(hr, scale, spec.get("degradation"), name)
        yield name, hr, lr


def _chw(lr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(lr, -1, -3))


def prepare(spec: dict, scale: int, out: dict[str, str | Path]) -> None:
    """Write one shard per split of the dataset ``spec`` at ``scale``.

    ``spec`` is the dataset's definition from the config (source, splits, patch_size, stride,
    degradation, ...), or the part of it one split needs (``sources.split_spec``); ``out`` maps
    split name ("train", "val", "test") to the shard path: the workflow prepares one split per
    job. The output folders are checked to be writable and the dataset's files are checked
    (count and names for existing copies) before any image is read.
    """
    prepare_outputs(*out.values())
    spec = at_scale(spec, scale)  # patch_size and stride may be given per scale
    recorded = {k: v for k, v in spec.items() if k not in LOCATION_KEYS}  # the shard's identity, not where
    source = open_source(spec)
    for split, path in out.items():
        if split == "train":
            n_images = 0
            with PatchWriter(path, scale, recorded) as writer:
                for _, hr, lr in load_pairs(spec, split, scale, source):
                    writer.append(*crop_patches(hr, lr, scale, spec["patch_size"], spec["stride"]))
                    n_images += 1
                if writer.count == 0:
                    raise ValueError(
                        f"dataset split {split!r}: no {spec['patch_size']} px patch fits in any of its "
                        f"{n_images} images"
                    )
            log.info(
                "%s: %d patches of %d px from %d images -> %s", split, writer.count, spec["patch_size"], n_images, path
            )
        else:
            images = (
                (name, _chw(lr), hr.transpose(2, 0, 1).copy())
                for name, hr, lr in load_pairs(spec, split, scale, source)
            )
            write_images(path, images, scale, recorded)
            log.info("%s: whole images -> %s", split, path)


def repair_shard(shard: str | Path, spec: dict, scale: int, split: str) -> str:
    """Prepare a damaged shard again (``spec``: the dataset's definition) and say how it came out.

    When the new shard is bitwise what its manifest says the old one was, shard and manifest keep
    the manifest's old timestamp (``manifest.restore_stamp``): what was made from the shard is
    still up to date and Snakemake reruns none of it. Otherwise (or without a readable manifest)
    they keep their new timestamp, and what was made from the shard is redone by the next run.
    """
    shard = Path(shard)
    try:
        before = read_manifest(shard)["sha256"]
        stamp = manifest_path(shard).stat().st_mtime_ns
    except ShardDamaged:
        before, stamp = None, None
    prepare(job_spec(spec, split, int(scale)), int(scale), {split: shard})
    if before is None or read_manifest(shard)["sha256"] != before:
        return "prepared again; it may differ from what the runs made from it read, so the next run redoes them"
    for path in (shard, manifest_path(shard)):
        os.utime(path, ns=(stamp, stamp))
    return "prepared again, bitwise as it was: the runs made from it are kept"
