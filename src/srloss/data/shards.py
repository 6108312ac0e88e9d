"""HDF5 shards: LR/HR pairs stored as uint8, written atomically, read as torch datasets.

Layout of one shard (``{split}.h5``):

* patches shard (train): datasets ``lr`` and ``hr``, uint8, one sample per chunk (a random
  batch reads exactly the chunks it uses, no decompression):
  ``lr`` (N, C, h, w), or (N, T, C, h, w) for multi-frame data with the reference frame at
  index T//2; ``hr`` (N, C, h*s, w*s);
* images shard (val/test): group ``images/<name>`` per image with datasets ``lr`` (C, H, W) or
  (T, C, H, W) and ``hr`` (C, H*s, W*s), uint8, whole mod-cropped images (``/`` in names,
  e.g. benchmark ``Set5/baby``, is stored as ``__``);
* root attributes: ``kind`` ("patches" or "images"), ``scale``, ``source``, ``frames`` (T, 1
  for single images), ``degradation`` (JSON, every option with defaults filled), ``spec``
  (JSON of the dataset definition), ``spec_hash`` (sha256 of ``spec``, 16 hex digits) and
  ``srloss_version``.

Beside each shard, its manifest ``{split}.h5.json`` records what the writer wrote: the file's
size and SHA-256, kind, scale, spec hash and number of samples. ``verify_shard`` compares a shard
with its manifest (the size at once, the digest by reading the file, or from a ``DigestCache``),
so a truncated, edited or half-copied shard is named as damaged before anything uses it: the
workflow's parse prepares it again without touching the runs made from it (``request_prepare``),
and ``train``/``evaluate`` refuse it at start.

Readers given the spec they are meant to serve (``expect=(scale, spec)``) refuse a shard whose
attributes disagree, instead of silently training on other data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from srloss import __version__
from srloss.atomic import atomic_path, ensure_space
from srloss.data.degrade import degradation_options
from srloss.data.manifest import write_manifest
from srloss.data.sources import dataset_frames
from srloss.machine import available_memory

NAME_SEP = "__"  # replaces "/" in image names inside the images group


def spec_hash(spec: dict) -> str:
    """Short stable hash of a JSON-serialisable spec (sorted keys)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def shard_attrs(kind: str, scale: int, spec: dict) -> dict:
    """The root attributes a shard of this kind, scale and dataset spec carries."""
    degradation = degradation_options(spec.get("degradation"))
    degradation["frames"] = dataset_frames(spec)  # MLFDB: 7 real LR frames unless the config says otherwise
    return {
        "kind": kind,
        "scale": int(scale),
        "source": spec.get("source", ""),
        "frames": dataset_frames(spec),
        "degradation": json.dumps(degradation, sort_keys=True),
        "spec": json.dumps(spec, sort_keys=True),
        "spec_hash": spec_hash(spec),
        "srloss_version": __version__,
    }


def _write_attrs(f: h5py.File, kind: str, scale: int, spec: dict) -> None:
    for key, value in shard_attrs(kind, scale, spec).items():
        f.attrs[key] = value


class PatchWriter:
    """Append LR/HR training patches to a new shard; the file appears only on a clean close.

    Use as a context manager: ``with PatchWriter(path, scale, spec) as w: w.append(lr, hr)``.
    Patches are appended in batches (one image's patches at a time), so a dataset far larger
    than RAM (DIV2K) is written in constant memory.
    """

    def __init__(self, path: str | Path, scale: int, spec: dict):
        self.path, self.scale, self.spec = Path(path), int(scale), spec
        self.count = 0

    def __enter__(self) -> "PatchWriter":
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._file = h5py.File(self._tmp, "w")
        _write_attrs(self._file, "patches", self.scale, self.spec)
        return self

    def append(self, lr: np.ndarray, hr: np.ndarray) -> None:
        """``lr`` (n, [T,] C, h, w) and ``hr`` (n, C, h*scale, w*scale), uint8."""
        if lr.dtype != np.uint8 or hr.dtype != np.uint8:
            raise TypeError(f"write_patches: expected uint8 arrays, got {lr.dtype} and {hr.dtype}")
        if (
            len(lr) != len(hr)
            or lr.ndim not in (4, 5)
            or hr.ndim != 4
            or hr.shape[-1] != lr.shape[-1] * self.scale
            or hr.shape[-2] != lr.shape[-2] * self.scale
            or hr.shape[1] != lr.shape[-3]
        ):
            raise ValueError(f"write_patches: inconsistent shapes lr {lr.shape}, hr {hr.shape} at scale {self.scale}")
        if len(lr) == 0:
            return
        ensure_space(self.path, lr.nbytes + hr.nbytes)  # HDF5 may crash the process on a full disk
        f = self._file
        if "lr" not in f:
            f.create_dataset(
                "lr",
                shape=(0, *lr.shape[1:]),
                maxshape=(None, *lr.shape[1:]),
                dtype=np.uint8,
                chunks=(1, *lr.shape[1:]),
            )
            f.create_dataset(
                "hr",
                shape=(0, *hr.shape[1:]),
                maxshape=(None, *hr.shape[1:]),
                dtype=np.uint8,
                chunks=(1, *hr.shape[1:]),
            )
        elif f["lr"].shape[1:] != lr.shape[1:] or f["hr"].shape[1:] != hr.shape[1:]:
            raise ValueError(
                f"write_patches: patch shapes changed from {f['lr'].shape[1:]}/{f['hr'].shape[1:]} to "
                f"{lr.shape[1:]}/{hr.shape[1:]}"
            )
        n = self.count
        for key, arr in (("lr", lr), ("hr", hr)):
            f[key].resize(n + len(arr), axis=0)
            f[key][n:] = arr
        self.count += len(lr)

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._file.close()
        if exc_type is None and self.count == 0:
            err = ValueError(f"{self.path}: no patches to write")
            self._atomic.__exit__(ValueError, err, None)  # removes the temporary file
            raise err
        self._atomic.__exit__(exc_type, exc, tb)  # renames on success, removes on error
        if exc_type is None:
            write_manifest(self.path, "patches", self.scale, spec_hash(self.spec), self.count)
        return False


def write_patches(path: str | Path, lr: np.ndarray, hr: np.ndarray, scale: int, spec: dict) -> None:
    """Write training patches: ``lr`` (N, [T,] C, h, w) and ``hr`` (N, C, h*scale, w*scale) uint8."""
    if len(lr) == 0:
        raise ValueError(f"write_patches: no patches (lr {lr.shape}, hr {hr.shape})")
    with PatchWriter(path, scale, spec) as w:
        w.append(lr, hr)


def write_images(
    path: str | Path, images: Iterable[tuple[str, np.ndarray, np.ndarray]], scale: int, spec: dict
) -> None:
    """Write whole images: an iterable of (name, lr [T,]CHW uint8, hr CHW uint8)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_attrs(f, "images", scale, spec)
        group = f.create_group("images")
        for name, lr, hr in images:
            if hr.shape[-2] != lr.shape[-2] * scale or hr.shape[-1] != lr.shape[-1] * scale:
                raise ValueError(f"write_images: {name}: hr {hr.shape} is not lr {lr.shape} times {scale}")
            ensure_space(path, lr.nbytes + hr.nbytes)  # HDF5 may crash the process on a full disk
            g = group.create_group(name.replace("/", NAME_SEP))
            g.create_dataset("lr", data=lr)
            g.create_dataset("hr", data=hr)
        count = len(group)
    write_manifest(path, "images", scale, spec_hash(spec), count)


def read_attrs(path: str | Path) -> dict:
    """The root attributes of a shard, with ``spec`` and ``degradation`` decoded."""
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
    attrs["spec"] = json.loads(attrs["spec"])
    if "degradation" in attrs:
        attrs["degradation"] = json.loads(attrs["degradation"])
    for key in ("scale", "frames"):
        if key in attrs:
            attrs[key] = int(attrs[key])
    return attrs


def check_shard(path: str | Path, kind: str, scale: int, spec: dict) -> None:
    """Raise if the shard at ``path`` was not made for this kind, scale and dataset spec."""
    attrs = read_attrs(path)
    want = shard_attrs(kind, scale, spec)
    keys = ("kind", "scale", "source", "frames", "degradation", "spec_hash")
    expected = {k: want[k] for k in keys}
    expected["degradation"] = json.loads(expected["degradation"])
    found = {k: attrs.get(k) for k in keys}
    if found != expected:
        diff = {k: {"expected": expected[k], "found": found[k]} for k in keys if expected[k] != found[k]}
        raise ValueError(
            f"shard {path} does not match what it is asked to serve: {diff}; delete it and rerun the workflow "
            "to rebuild it"
        )


def read_images(path: str | Path, expect: tuple[int, dict] | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """All (name, lr, hr) uint8 images of an images shard, in name order.

    ``lr`` is (C, H, W), or (T, C, H, W) for multi-frame shards. ``expect=(scale, spec)``
    checks the shard's attributes first.
    """
    if expect is not None:
        check_shard(path, "images", *expect)
    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "images":
            raise ValueError(f"{path}: expected an images shard, found kind={f.attrs.get('kind')!r}")
        return [
            (key.replace(NAME_SEP, "/"), f["images"][key]["lr"][()], f["images"][key]["hr"][()])
            for key in sorted(f["images"])
        ]


def augment(lr: torch.Tensor, hr: torch.Tensor, code: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one of the 8 dihedral transforms (flips and 90-degree rotations) to an LR/HR pair.

    Acts on the last two axes, so multi-frame LR (T, C, h, w) is transformed frame by frame.
    """
    if code & 1:
        lr, hr = lr.flip(-1), hr.flip(-1)
    if code & 2:
        lr, hr = lr.flip(-2), hr.flip(-2)
    if code & 4:
        lr, hr = lr.transpose(-1, -2), hr.transpose(-1, -2)
    return lr, hr


def _augment_batch(batch: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """``augment`` applied per sample to a uint8 batch (N, ..., h, w) with numpy views.

    Flips and the transpose are views, so each sample is copied once into the output; this is
    several times cheaper than transforming float tensors group by group. Patches are square.
    """
    out = np.empty_like(batch)
    for k, code in enumerate(np.asarray(codes, dtype=np.int64).tolist()):
        a = batch[k]
        if code & 1:
            a = a[..., ::-1]
        if code & 2:
            a = a[..., ::-1, :]
        if code & 4:
            a = np.swapaxes(a, -1, -2)
        out[k] = a
    return out


def _read_samples(dset: h5py.Dataset, indices: np.ndarray) -> np.ndarray:
    """``dset[indices]`` for arbitrary (unsorted, repeated) indices, fast.

    h5py's fancy indexing is pathologically slow here (about 60 ms for 16 samples of 48 kB,
    versus 0.2 ms this way): with one uncompressed sample per chunk, each sample is read as its
    raw chunk; otherwise one plain read per sample.
    """
    out = np.empty((len(indices), *dset.shape[1:]), dtype=dset.dtype)
    raw = dset.chunks == (1, *dset.shape[1:]) and not dset.compression and not dset.shuffle and not dset.fletcher32
    zeros = (0,) * (dset.ndim - 1)
    for k, i in enumerate(indices.tolist()):
        if raw:
            _, buf = dset.id.read_direct_chunk((i, *zeros))
            out[k] = np.frombuffer(buf, dtype=dset.dtype).reshape(dset.shape[1:])
        else:
            out[k] = dset[i]
    return out


class PatchDataset(Dataset):
    """Training patches from a patches shard, as float32 tensors in [0, 1].

    ``dataset[i]`` -> (lr, hr): lr (C, h, w), or (T, C, h, w) for multi-frame shards (reference
    frame at T//2), hr (C, h*s, w*s). ``dataset[(i, code)]`` applies dihedral transform
    ``code`` (0..7); ``dataset[[i, ...]]`` or ``dataset[[(i, code), ...]]`` returns a whole
    stacked batch (N, ...) in one call, which is what a DataLoader with a ``BatchSampler`` and
    ``batch_size=None`` should use: one fancy read instead of N small ones.

    The HDF5 file is opened lazily in each process (and reopened after a fork), so the dataset
    is safe with DataLoader workers. ``in_memory``: True reads the whole shard into RAM once,
    False reads from the file on demand, "auto" (default) loads it when it takes less than a
    quarter of the available memory. Augmentation draws from the index, so a sample's
    transform depends only on the caller's (index, code), not on the worker that reads it.
    ``expect=(scale, spec)`` refuses a shard made for another scale or dataset definition.
    ``as_uint8=True`` returns the uint8 values instead (4x less to move between processes and
    to the GPU; convert there with ``.float().div_(255)``).
    """

    def __init__(
        self,
        path: str | Path,
        augment: bool = True,
        in_memory: bool | str = "auto",
        expect: tuple[int, dict] | None = None,
        as_uint8: bool = False,
    ):
        self.path = str(path)
        self.augment = augment
        self.as_uint8 = as_uint8
        if expect is not None:
            check_shard(path, "patches", *expect)
        with h5py.File(self.path, "r") as f:
            if f.attrs.get("kind") != "patches":
                raise ValueError(f"{path}: expected a patches shard, found kind={f.attrs.get('kind')!r}")
            self.length = len(f["lr"])
            self.lr_shape, self.hr_shape = f["lr"].shape[1:], f["hr"].shape[1:]
            nbytes = f["lr"].size + f["hr"].size
            if in_memory == "auto":
                in_memory = nbytes < available_memory() // 4
            self.in_memory = bool(in_memory)
            self._arrays = (f["lr"][()], f["hr"][()]) if self.in_memory else None
        self._file: h5py.File | None = None
        self._pid = -1

    @property
    def frames(self) -> int:
        """T for multi-frame shards, 1 for single-image shards."""
        return self.lr_shape[0] if len(self.lr_shape) == 4 else 1

    def __len__(self) -> int:
        return self.length

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, -1  # never share an HDF5 handle across processes
        return state

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def _read(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is not None:
            return self._arrays[0][indices], self._arrays[1][indices]
        f = self._handle()
        return _read_samples(f["lr"], indices), _read_samples(f["hr"], indices)

    def batch(self, indices: Sequence[int], codes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the samples ``indices`` with their augmentation ``codes`` into (N, ...) tensors."""
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < -self.length or idx.max() >= self.length):
            raise IndexError(f"{self.path}: index out of range for {self.length} patches")
        lr_u8, hr_u8 = self._read(idx % self.length if len(idx) else idx)
        if self.augment:
            lr_u8, hr_u8 = _augment_batch(lr_u8, codes), _augment_batch(hr_u8, codes)
        lr_t, hr_t = torch.from_numpy(lr_u8), torch.from_numpy(hr_u8)
        if self.as_uint8:
            return lr_t, hr_t
        return lr_t.float().div_(255), hr_t.float().div_(255)

    def get(self, i: int, aug_code: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.batch([i], [aug_code])
        return lr[0], hr[0]

    def __getitem__(self, item):
        if isinstance(item, (list, tuple)) and item and isinstance(item[0], (list, tuple)):
            indices, codes = zip(*item)
            return self.batch(indices, codes)
        if isinstance(item, list):
            return self.batch(item, [0] * len(item))
        i, code = item if isinstance(item, tuple) else (item, 0)
        return self.get(int(i), int(code))
