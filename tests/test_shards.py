import numpy as np
import pytest
import torch

from srloss.data.prepare import crop_patches, degrade_pair, prepare
from srloss.data.shards import PatchDataset, augment, check_shard, read_attrs, read_images, spec_hash, write_patches

SPEC = {"source": "skimage", "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]}, "patch_size": 48, "stride": 48}


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
    (name, lr_img, hr_img), = read_images(out["test"])
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
