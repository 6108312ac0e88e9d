"""Training-batch throughput: HDF5 shard reader vs PNG sub-images decoded and cropped per sample.

Usage: python bench/bench_shards.py [--workers 2] [--seconds 10] [--images 40]

Both pipelines serve the same thing: batches of 16 HR patches 3x128x128 with their x4 LR
patches 3x32x32, float32 in [0, 1], random dihedral augmentation, from a DataLoader with
``--workers`` worker processes.

* PNG (the usual alternative, e.g. DIV2K cut into 480x480 HR / 120x120 LR sub-image PNGs):
  each sample opens and decodes one HR and one LR PNG and crops an aligned random patch.
* HDF5 shard (srloss): patches pre-cut at a stride of 64 px and stored uint8, one chunk per
  sample; a batch is one fancy read (``BatchSampler`` + ``batch_size=None``), from the file in
  the page cache (``in_memory=False``) and from RAM (``in_memory=True``); and from RAM as
  uint8 batches (``as_uint8=True``, converted to float on the consumer's device).

The sub-images come from real photographs (scikit-image's, upscaled x2 with the MATLAB
bicubic so that 480 px tiles fit), so PNG decode costs what it costs on natural images.
Prints batches/s, samples/s, the per-step time each pipeline can feed a GPU, and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from srloss.data.degrade import bicubic_downscale, imresize, modcrop
from srloss.data.prepare import crop_patches
from srloss.data.shards import PatchDataset, PatchWriter, augment
from srloss.data.sources.packaged import PACKAGED_NAMES, load_packaged

SCALE, PATCH, SUB, BATCH = 4, 128, 480, 16


def make_subimages(folder: Path, n_images: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Write HR/LR sub-image PNG pairs (480 px HR tiles, stride 240) and return them."""
    pairs = []
    for name in PACKAGED_NAMES:
        img = torch.from_numpy(load_packaged(name).transpose(2, 0, 1).copy())
        big = imresize(img, 2).numpy().transpose(1, 2, 0)
        big = modcrop(big, SCALE)
        for y in range(0, big.shape[0] - SUB + 1, SUB // 2):
            for x in range(0, big.shape[1] - SUB + 1, SUB // 2):
                hr = np.ascontiguousarray(big[y : y + SUB, x : x + SUB])
                pairs.append((hr, bicubic_downscale(hr, SCALE)))
    pairs = (pairs * (n_images // len(pairs) + 1))[:n_images]
    for i, (hr, lr) in enumerate(pairs):
        Image.fromarray(hr).save(folder / f"{i:04d}_hr.png")
        Image.fromarray(lr).save(folder / f"{i:04d}_lr.png")
    return pairs


class PngPatches(Dataset):
    """The per-sample PNG pipeline: decode an HR/LR sub-image pair, crop, augment."""

    def __init__(self, folder: Path, n: int, length: int):
        self.folder, self.n, self.length = folder, n, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng(i)
        k = int(rng.integers(self.n))
        hr = np.asarray(Image.open(self.folder / f"{k:04d}_hr.png"))
        lr = np.asarray(Image.open(self.folder / f"{k:04d}_lr.png"))
        p = PATCH // SCALE
        ly, lx = (int(v) for v in rng.integers(0, lr.shape[0] - p + 1, 2))
        lr_t = torch.from_numpy(lr[ly : ly + p, lx : lx + p].transpose(2, 0, 1).copy()).float().div_(255)
        hr_t = (
            torch.from_numpy(hr[ly * SCALE : (ly + p) * SCALE, lx * SCALE : (lx + p) * SCALE].transpose(2, 0, 1).copy())
            .float()
            .div_(255)
        )
        return augment(lr_t, hr_t, int(rng.integers(8)))


class ShardBatches(Dataset):
    """Index -> a whole batch of (index, augmentation code) pairs from a PatchDataset."""

    def __init__(self, ds: PatchDataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, indices):
        codes = np.random.default_rng(indices[0]).integers(8, size=len(indices))
        return self.ds.batch(indices, codes)


def throughput(loader: DataLoader, seconds: float) -> tuple[float, int]:
    """Batches per second after a warm-up of 3 batches, over about ``seconds``."""
    it = iter(loader)
    for _ in range(3):
        lr, hr = next(it)
    assert hr.shape == (BATCH, 3, PATCH, PATCH) and lr.shape == (BATCH, 3, PATCH // SCALE, PATCH // SCALE), (
        lr.shape,
        hr.shape,
    )
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        n += 1
    return n / (time.perf_counter() - start), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per pipeline")
    parser.add_argument("--images", type=int, default=40, help="sub-image pairs on disk")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pairs = make_subimages(folder, args.images)
        shard = folder / "train.h5"
        with PatchWriter(shard, SCALE, {"source": "bench", "patch_size": PATCH, "stride": 64}) as w:
            for hr, lr in pairs:
                w.append(*crop_patches(hr, lr, SCALE, PATCH, 64))
        n_patches = w.count
        length = 10**6
        png = DataLoader(
            PngPatches(folder, len(pairs), length),
            batch_size=BATCH,
            num_workers=args.workers,
            sampler=RandomSampler(range(length), replacement=True, num_samples=length),
            persistent_workers=False,
        )
        results = {"PNG sub-images, decode + crop per sample": throughput(png, args.seconds)}
        for in_memory in (False, True):
            ds = PatchDataset(shard, augment=True, in_memory=in_memory)
            sampler = BatchSampler(RandomSampler(ds, replacement=True, num_samples=length), BATCH, drop_last=True)
            loader = DataLoader(ShardBatches(ds), sampler=sampler, batch_size=None, num_workers=args.workers)
            label = "HDF5 shard, " + ("in RAM" if in_memory else "file (page cache)")
            results[label] = throughput(loader, args.seconds)
        ds = PatchDataset(shard, augment=True, in_memory=True, as_uint8=True)
        loader = DataLoader(ShardBatches(ds), sampler=sampler, batch_size=None, num_workers=args.workers)
        results["HDF5 shard, in RAM, uint8 batches (as_uint8)"] = throughput(loader, args.seconds)
        # what srloss.training.loop does: PatchDataset.batch in the training process, no workers
        inproc = DataLoader(
            ShardBatches(PatchDataset(shard, in_memory=True)), sampler=sampler, batch_size=None, num_workers=0
        )
        results["HDF5 shard, in RAM, in-process (srloss.training.loop)"] = throughput(inproc, args.seconds)
    print(
        f"batches of {BATCH} x 3x{PATCH}x{PATCH} HR + 3x{PATCH // SCALE}x{PATCH // SCALE} LR (x{SCALE}), float32, "
        f"{args.workers} DataLoader workers; {len(pairs)} PNG pairs ({SUB} px HR), {n_patches} shard patches"
    )
    print(f"{'pipeline':44s} {'batches/s':>10s} {'samples/s':>10s} {'ms/batch':>9s} {'batches':>8s}")
    for label, (rate, n) in results.items():
        print(f"{label:44s} {rate:10.1f} {rate * BATCH:10.0f} {1e3 / rate:9.2f} {n:8d}")
    base = results["PNG sub-images, decode + crop per sample"][0]
    for label, (rate, _) in results.items():
        if label.startswith("HDF5") and "in-process" not in label:
            print(f"ratio {label} / PNG: {rate / base:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
