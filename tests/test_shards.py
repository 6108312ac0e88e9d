import numpy as np
import pytest
import torch

from srloss.data.prepare import crop_patches, degrade_pair, prepare
from srloss.data.shards import PatchDataset, augment, check_shard, read_attrs, read_images, spec_hash, write_patches

SPEC = {
    "source": "skimage",
    "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
    "patch_size": 48,
    "stride": 48,
}


def test_crop_patches_are_aligned(astronaut):
    hr, lr = degrade_pair(astronaut, 4)
    lrp, hrp = crop_patches(hr, lr, 4, 48, 48)
    assert lrp.shape == (100, 3, 12, 12) and hrp.shape == (100, 3, 48, 48)
    # patch 13 (row 1, col 3) comes from HR (48, 144) and LR (12, 36)
    np.testing.assert_array_equal(hrp[13], hr[48:96, 144:192].transpose(2, 0, 1))
    np.testing.assert_array_equal(lrp[13], lr[12:24, 36:48].transpose(2, 0, 1))


def test_prepare_round_trip(tmp_path):
    out = {s: tmp_path / f"{s}.h5" for s in ("train", "val", "test")}
    prepare(SPEC, 2, out)
    attrs = read_attrs(out["train"])
    assert attrs["kind"] == "patches" and attrs["scale"] == 2 and attrs["spec"] == SPEC
    assert attrs["spec_hash"] == spec_hash(SPEC)
    ds = PatchDataset(out["train"], augment=False)
    assert len(ds) == 6 * 9  # chelsea 300x451 -> 6 x 9 patches of 48 px
    lr, hr = ds[0]
    assert lr.shape == (3, 24, 24) and hr.shape == (3, 48, 48) and lr.dtype == torch.float32
    assert 0 <= float(hr.min()) and float(hr.max()) <= 1
    ((name, lr_img, hr_img),) = read_images(out["test"])
    assert name == "astronaut" and hr_img.shape == (3, 512, 512) and lr_img.shape == (3, 256, 256)
    check_shard(out["test"], "images", 2, SPEC)
    with pytest.raises(ValueError, match="does not match"):
        check_shard(out["test"], "images", 4, SPEC)
    # lazily opened file gives the same samples as the in-memory copy
    lazy = PatchDataset(out["train"], augment=False, in_memory=False)
    torch.testing.assert_close(lazy[5], ds[5])


def test_write_is_atomic_on_failure(tmp_path):
    path = tmp_path / "bad.h5"
    with pytest.raises(ValueError):
        write_patches(path, np.zeros((2, 3, 4, 4), np.uint8), np.zeros((2, 3, 9, 9), np.uint8), 2, SPEC)
    assert list(tmp_path.iterdir()) == []


def test_augment_is_a_dihedral_transform():
    lr = torch.arange(16.0).reshape(1, 4, 4)
    hr = torch.arange(64.0).reshape(1, 8, 8)
    seen = set()
    for code in range(8):
        a, b = augment(lr, hr, code)
        assert sorted(a.flatten().tolist()) == sorted(lr.flatten().tolist())
        seen.add(tuple(a.flatten().tolist()))
        # the LR/HR pair stays aligned: the HR corner moves where the LR corner moves
        assert (a[0] == 0).nonzero().tolist()[0] == [x // 2 for x in (b[0] == 0).nonzero().tolist()[0]]
    assert len(seen) == 8


# ----- multi-frame bursts, attribute checks, reader modes, DataLoader workers ---------------

from torch.utils.data import BatchSampler, DataLoader, RandomSampler  # noqa: E402

from srloss.data import shards as shards_mod  # noqa: E402
from srloss.data.shards import PatchWriter  # noqa: E402

BURST = {**SPEC, "degradation": {"frames": 3, "blur_sigma": 0.5, "noise_sigma": 1.0, "seed": 7}}


@pytest.fixture(scope="module")
def burst_shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("burst")
    out = {s: d / f"{s}.h5" for s in ("train", "val", "test")}
    prepare(BURST, 4, out)
    return out


def test_burst_shards_store_t_c_h_w_and_record_degradation(burst_shards):
    attrs = read_attrs(burst_shards["train"])
    assert attrs["frames"] == 3 and attrs["source"] == "skimage"
    assert attrs["degradation"] == {
        "blur_sigma": 0.5,
        "noise_sigma": 1.0,
        "jpeg_quality": 0,
        "frames": 3,
        "max_shift": 2.0,
        "max_rotation": 1.0,
        "seed": 7,
    }
    ds = PatchDataset(burst_shards["train"], augment=False, expect=(4, BURST))
    lr, hr = ds[0]
    assert ds.frames == 3 and lr.shape == (3, 3, 12, 12) and hr.shape == (3, 48, 48)
    # the reference frame (index T//2) is aligned with HR: closer to HR's downscale than the others
    from srloss.data.degrade import imresize

    ref = imresize(hr, 0.25)
    errs = [float((lr[t] - ref).abs().mean()) for t in range(3)]
    assert errs[1] < min(errs[0], errs[2])
    ((name, lr_img, hr_img),) = read_images(burst_shards["test"], expect=(4, BURST))
    assert name == "astronaut" and lr_img.shape == (3, 3, 128, 128) and hr_img.shape == (3, 512, 512)


def test_shard_disagreeing_with_config_is_an_error(burst_shards):
    other = {**BURST, "degradation": {**BURST["degradation"], "noise_sigma": 2.0}}
    with pytest.raises(
        ValueError, match=r"does not match what it is asked to serve.*'degradation'.*'noise_sigma': 2.0"
    ):
        PatchDataset(burst_shards["train"], expect=(4, other))
    with pytest.raises(ValueError, match=r"'scale': \{'expected': 2, 'found': 4\}"):
        read_images(burst_shards["val"], expect=(2, BURST))
    with pytest.raises(ValueError, match="expected a patches shard"):
        PatchDataset(burst_shards["val"])


def test_batch_equals_single_samples_with_augmentation(burst_shards):
    ds = PatchDataset(burst_shards["train"], in_memory=False)
    idx, codes = [5, 1, 5, 0, 7], [3, 0, 6, 7, 4]
    lr, hr = ds.batch(idx, codes)
    assert lr.shape == (5, 3, 3, 12, 12)
    for k, (i, c) in enumerate(zip(idx, codes)):
        plain = PatchDataset(burst_shards["train"], augment=False)[i]
        a, b = augment(*plain, c)
        torch.testing.assert_close(lr[k], a)
        torch.testing.assert_close(hr[k], b)
    torch.testing.assert_close(ds[list(zip(idx, codes))][0], lr)
    ds.as_uint8 = True
    lr_u8, hr_u8 = ds.batch(idx, codes)
    assert lr_u8.dtype == torch.uint8
    torch.testing.assert_close(hr_u8.float().div(255), hr)


def test_in_memory_auto_follows_available_memory(burst_shards, monkeypatch):
    assert PatchDataset(burst_shards["train"]).in_memory
    monkeypatch.setattr(shards_mod, "available_memory", lambda: 1000)
    lazy = PatchDataset(burst_shards["train"])
    assert not lazy.in_memory
    torch.testing.assert_close(lazy[3], PatchDataset(burst_shards["train"], in_memory=True)[3])


def test_dataloader_workers_read_correct_batches(burst_shards):
    ds = PatchDataset(burst_shards["train"], augment=False, in_memory=False)
    ds[0]  # open the file in the parent first: workers must not reuse this handle
    sampler = BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(0)), batch_size=4, drop_last=False)
    batches = list(sampler)
    sampler = BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(0)), batch_size=4, drop_last=False)
    loader = DataLoader(ds, sampler=sampler, batch_size=None, num_workers=2, multiprocessing_context="fork")
    seen = 0
    for indices, (lr, hr) in zip(batches, loader):
        ref_lr, ref_hr = ds.batch(indices, [0] * len(indices))
        torch.testing.assert_close(lr, ref_lr)
        torch.testing.assert_close(hr, ref_hr)
        seen += len(indices)
    assert seen == len(ds)


def test_patch_writer_appends_and_is_atomic(tmp_path):
    path = tmp_path / "p.h5"
    rng = np.random.default_rng(0)
    with PatchWriter(path, 2, SPEC) as w:
        for _ in range(3):
            w.append(
                rng.integers(0, 255, (4, 3, 5, 5), dtype=np.uint8), rng.integers(0, 255, (4, 3, 10, 10), dtype=np.uint8)
            )
    assert len(PatchDataset(path)) == 12
    bad = tmp_path / "bad.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with PatchWriter(bad, 2, SPEC) as w:
            w.append(np.zeros((1, 3, 5, 5), np.uint8), np.zeros((1, 3, 10, 10), np.uint8))
            raise RuntimeError("boom")
    with pytest.raises(ValueError, match="no patches"):
        with PatchWriter(bad, 2, SPEC):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.h5", "p.h5.json"]  # the shard and its manifest
