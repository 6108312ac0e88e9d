"""HDF5 shards: LR/HR pairs stored as uint8, written atomically, read as torch datasets.

Layout of one shard (``{split}.h5``):

* patches shard (train): datasets ``lr`` (N, C, h, w) and ``hr`` (N, C, h*s, w*s), uint8,
  chunked one sample per chunk so random batches read only what they use;
* images shard (val/test): group ``images/<name>`` per image with datasets ``lr`` and ``hr``
  (C, H, W) uint8, whole mod-cropped images;
* root attributes: ``kind`` ("patches" or "images"), ``scale``, ``spec`` (JSON of the dataset
  definition that produced it), ``spec_hash`` and ``srloss_version``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from srloss import __version__
from srloss.atomic import atomic_path


def spec_hash(spec: dict) -> str:
    """Short stable hash of a JSON-serialisable spec (sorted keys)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _write_attrs(f: h5py.File, kind: str, scale: int, spec: dict) -> None:
    f.attrs["kind"] = kind
    f.attrs["scale"] = scale
    f.attrs["spec"] = json.dumps(spec, sort_keys=True)
    f.attrs["spec_hash"] = spec_hash(spec)
    f.attrs["srloss_version"] = __version__


def write_patches(path: str | Path, lr: np.ndarray, hr: np.ndarray, scale: int, spec: dict) -> None:
    """Write training patches: ``lr`` (N, C, h, w) and ``hr`` (N, C, h*scale, w*scale) uint8."""
    if lr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise TypeError(f"write_patches: expected uint8 arrays, got {lr.dtype} and {hr.dtype}")
    if len(lr) == 0 or len(lr) != len(hr) or hr.shape[-1] != lr.shape[-1] * scale:
        raise ValueError(f"write_patches: inconsistent shapes lr {lr.shape}, hr {hr.shape} at scale {scale}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_attrs(f, "patches", scale, spec)
        f.create_dataset("lr", data=lr, chunks=(1, *lr.shape[1:]))
        f.create_dataset("hr", data=hr, chunks=(1, *hr.shape[1:]))


def write_images(path: str | Path, images: Iterable[tuple[str, np.ndarray, np.ndarray]], scale: int, spec: dict) -> None:
    """Write whole images: an iterable of (name, lr CHW uint8, hr CHW uint8)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_attrs(f, "images", scale, spec)
        group = f.create_group("images")
        for name, lr, hr in images:
            if hr.shape[-2] != lr.shape[-2] * scale or hr.shape[-1] != lr.shape[-1] * scale:
                raise ValueError(f"write_images: {name}: hr {hr.shape} is not lr {lr.shape} times {scale}")
            g = group.create_group(name)
            g.create_dataset("lr", data=lr)
            g.create_dataset("hr", data=hr)


def read_attrs(path: str | Path) -> dict:
    """The root attributes of a shard, with ``spec`` decoded."""
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
    attrs["spec"] = json.loads(attrs["spec"])
    attrs["scale"] = int(attrs["scale"])
    return attrs


def check_shard(path: str | Path, kind: str, scale: int, spec: dict) -> None:
    """Raise if the shard at ``path`` was not made for this kind, scale and dataset spec."""
    attrs = read_attrs(path)
    expected = {"kind": kind, "scale": scale, "spec_hash": spec_hash(spec)}
    found = {k: attrs.get(k) for k in expected}
    if found != expected:
        raise ValueError(
            f"shard {path} does not match what it is asked to serve: expected {expected}, found {found}; "
            "delete it and rerun the workflow to rebuild it"
        )


def read_images(path: str | Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """All (name, lr, hr) CHW uint8 images of an images shard, in name order."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "images":
            raise ValueError(f"{path}: expected an images shard, found kind={f.attrs.get('kind')!r}")
        return [(name, f["images"][name]["lr"][()], f["images"][name]["hr"][()]) for name in sorted(f["images"])]


def augment(lr: torch.Tensor, hr: torch.Tensor, code: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one of the 8 dihedral transforms (flips and 90-degree rotations) to an LR/HR pair."""
    if code & 1:
        lr, hr = lr.flip(-1), hr.flip(-1)
    if code & 2:
        lr, hr = lr.flip(-2), hr.flip(-2)
    if code & 4:
        lr, hr = lr.transpose(-1, -2), hr.transpose(-1, -2)
    return lr, hr


class PatchDataset(Dataset):
    """Training patches from a patches shard, as float32 tensors in [0, 1].

    The file is opened lazily in each process, so the dataset is safe with DataLoader workers.
    ``in_memory=True`` reads the whole shard into RAM once. Augmentation draws from the index,
    so a sample's transform depends only on (index, epoch seed), not on the worker that reads it.
    """

    def __init__(self, path: str | Path, augment: bool = True, in_memory: bool = True):
        self.path = str(path)
        self.augment = augment
        with h5py.File(self.path, "r") as f:
            if f.attrs.get("kind") != "patches":
                raise ValueError(f"{path}: expected a patches shard, found kind={f.attrs.get('kind')!r}")
            self.length = len(f["lr"])
            self._arrays = (f["lr"][()], f["hr"][()]) if in_memory else None
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return self.length

    def _get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is not None:
            return self._arrays[0][i], self._arrays[1][i]
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        return self._file["lr"][i], self._file["hr"][i]

    def get(self, i: int, aug_code: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self._get(i)
        lr_t = torch.from_numpy(np.ascontiguousarray(lr)).float().div_(255)
        hr_t = torch.from_numpy(np.ascontiguousarray(hr)).float().div_(255)
        if self.augment and aug_code:
            lr_t, hr_t = augment(lr_t, hr_t, aug_code)
        return lr_t, hr_t

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, code = item if isinstance(item, tuple) else (item, 0)
        return self.get(i, code)

    def batch(self, indices: Sequence[int], codes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the samples ``indices`` with their augmentation ``codes`` into NCHW tensors."""
        pairs = [self.get(int(i), int(c)) for i, c in zip(indices, codes)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
