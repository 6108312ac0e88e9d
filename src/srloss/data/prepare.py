"""Prepare one dataset at one scale: load HR images, degrade them, write train/val/test shards."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from srloss.data.degrade import bicubic_downscale, modcrop
from srloss.data.shards import write_images, write_patches
from srloss.data.sources import load_image

log = logging.getLogger(__name__)


def crop_patches(hr: np.ndarray, lr: np.ndarray, scale: int, patch: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Aligned LR/HR patch pairs on a regular grid.

    ``hr`` is HxWxC, ``lr`` its (H/scale)x(W/scale)xC downscaled version; ``patch`` and ``stride``
    are in HR pixels and multiples of ``scale``. Returns (N, C, patch/scale, patch/scale) LR and
    (N, C, patch, patch) HR uint8 arrays.
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
            lrs.append(lr[ly : ly + p, lx : lx + p])
    if not hrs:
        return np.zeros((0, hr.shape[2], p, p), np.uint8), np.zeros((0, hr.shape[2], patch, patch), np.uint8)
    return np.stack(lrs).transpose(0, 3, 1, 2).copy(), np.stack(hrs).transpose(0, 3, 1, 2).copy()


def degrade_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Mod-crop an HR image and make its LR counterpart; both HxWxC uint8."""
    hr = modcrop(hr, scale)
    return hr, bicubic_downscale(hr, scale)


def prepare(spec: dict, scale: int, out: dict[str, str | Path]) -> None:
    """Write one shard per split of the dataset ``spec`` at ``scale``.

    ``spec`` is the dataset's definition from the config (source, splits, patch_size, stride);
    ``out`` maps split name ("train", "val", "test") to the shard path to write.
    """
    for split, path in out.items():
        names = spec["splits"][split]
        pairs = [(name, *degrade_pair(load_image(spec["source"], name), scale)) for name in names]
        if split == "train":
            crops = [crop_patches(hr, lr, scale, spec["patch_size"], spec["stride"]) for _, hr, lr in pairs]
            lr_all = np.concatenate([c[0] for c in crops])
            hr_all = np.concatenate([c[1] for c in crops])
            if len(lr_all) == 0:
                raise ValueError(f"dataset split {split!r}: no {spec['patch_size']} px patch fits in images {names}")
            write_patches(path, lr_all, hr_all, scale, spec)
            log.info("%s: %d patches of %d px from %d images -> %s", split, len(hr_all), spec["patch_size"], len(names), path)
        else:
            images = [(name, lr.transpose(2, 0, 1).copy(), hr.transpose(2, 0, 1).copy()) for name, hr, lr in pairs]
            write_images(path, images, scale, spec)
            log.info("%s: %d whole images -> %s", split, len(images), path)
