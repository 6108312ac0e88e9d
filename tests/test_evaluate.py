"""One run's evaluation: batching, the run's status, crops, missing metrics."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from srloss.data.prepare import degrade_pair
from srloss.data.shards import read_images, write_images
from srloss.evaluation.measure import DEFAULT_EVALUATION, evaluate
from srloss.metrics import detail_crop
from srloss.models.base import build_model

BASE = {"study": "s", "dataset": "d", "loss": "none", "scale": 2, "seed": 0}
EVALUATION = {
    **DEFAULT_EVALUATION,
    "lpips": {"nets": ["alex"], "random_backbone": True},
    "crops": {"images": 2, "size": 32},
}


@pytest.fixture(scope="module")
def test_shard(tmp_path_factory, astronaut):
    images = []
    for name, (top, left, h, w) in {"a": (0, 0, 64, 64), "b": (100, 200, 64, 64), "c": (300, 100, 64, 96)}.items():
        hr, lr = degrade_pair(astronaut[top : top + h, left : left + w], 2)
        images.append((name, lr.transpose(2, 0, 1).copy(), hr.transpose(2, 0, 1).copy()))
    path = tmp_path_factory.mktemp("shard") / "test.h5"
    write_images(path, images, 2, {"test": True})
    return path


def _evaluate(tmp_path, shard, spec, checkpoint=None, **evaluation):
    torch.manual_seed(0)  # the test-only random LPIPS trunk
    out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    table = evaluate(
        spec,
        checkpoint,
        shard,
        out / "metrics.csv",
        out / "eval.json",
        evaluation={**EVALUATION, **evaluation},
        crops_out=out / "crops.npz",
    )
    return table, out


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_batched_equals_one_by_one_and_crops_are_fixed(tmp_path, test_shard):
    spec = {**BASE, "model": "bicubic", "arch": "bicubic", "model_options": {}}
    batched, out = _evaluate(tmp_path, test_shard, spec, batch_size=8)
    single, _ = _evaluate(tmp_path, test_shard, spec, batch_size=1)
    assert list(batched["image"]) == ["a", "b", "c"] and (batched["status"] == "baseline").all()
    columns = ["psnr_rgb", "psnr_y", "ssim_y", "mse", "sharpness_diff", "lpips_alex_random_backbone"]
    columns += ["sharpness_lost", "sharpness_added"]
    np.testing.assert_allclose(batched[columns].to_numpy(), single[columns].to_numpy(), rtol=1e-5)
    assert (batched["psnr_y"] > 20).all() and (batched["sharpness_diff"] > 0).all()  # bicubic x2 is blurrier
    split = batched["sharpness_lost"] - batched["sharpness_added"]
    np.testing.assert_allclose(split, batched["sharpness_diff"], atol=1e-9)  # the signed difference's two parts
    assert (batched["sharpness_lost"] > batched["sharpness_added"]).all()
    with np.load(out / "crops.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["box__a", "box__b", "hr__a", "hr__b", "sr__a", "sr__b"]
        hr = z["hr__b"]
        top, left, side = z["box__b"]
    hr_b = next(h for name, _, h in read_images(test_shard) if name == "b")
    assert (top, left, side) == detail_crop(torch.from_numpy(hr_b), 32)  # chosen from the ground truth
    np.testing.assert_array_equal(hr, hr_b[:, top : top + 32, left : left + 32])
    record = json.loads((out / "eval.json").read_text())
    assert record["evaluation"]["batch_size"] == 8 and record["missing"] == {}


def test_status_of_the_run_is_copied(tmp_path, test_shard):
    run = tmp_path / "trained"
    run.mkdir()
    model = build_model("espcn", 2, {"residual": True})
    torch.save(model.state_dict(), run / "model.pt")
    (run / "run.json").write_text(json.dumps({"status": "diverged at step 7"}))
    spec = {**BASE, "model": "espcn", "arch": "espcn", "model_options": {"residual": True}, "loss": "mse"}
    table, _ = _evaluate(tmp_path, test_shard, spec, checkpoint=run / "model.pt", metrics=["psnr_y"])
    assert (table["status"] == "diverged at step 7").all() and list(table.columns).count("psnr_y") == 1
    assert "ssim_y" not in table


def test_missing_lpips_weights_are_reported_with_the_reason(tmp_path, test_shard, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    spec = {**BASE, "model": "bicubic", "arch": "bicubic", "model_options": {}}
    table, out = _evaluate(tmp_path, test_shard, spec, lpips={"nets": ["alex"], "random_backbone": False})
    assert table["lpips_alex"].isna().all() and "lpips_alex_random_backbone" not in table
    assert table["missing"].str.contains("not cached at .*alexnet-owt-7be5be79.pth").all()
    assert "not cached" in json.loads((out / "eval.json").read_text())["missing"]["lpips_alex"]
    assert pd.read_csv(out / "metrics.csv")["psnr_y"].notna().all()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tiled_evaluation_equals_whole_images(tmp_path, test_shard):
    """evaluation.tile: the trained model runs on 12 px LR tiles (the 64 px HR images are 32 px LR),
    and every metric equals the whole-image evaluation's."""
    spec = {**BASE, "model": "espcn", "arch": "espcn", "loss": "l1", "model_options": {"channels": 8, "hidden": 4}}
    torch.manual_seed(1)
    weights = tmp_path / "weights.pt"
    torch.save(build_model("espcn", 2, {"channels": 8, "hidden": 4}).state_dict(), weights)
    whole, _ = _evaluate(tmp_path, test_shard, spec, weights, tile=0)
    tiled, _ = _evaluate(tmp_path, test_shard, spec, weights, tile=12)
    columns = ["psnr_rgb", "psnr_y", "ssim_y", "mse", "sharpness_diff", "lpips_alex_random_backbone"]
    np.testing.assert_allclose(tiled[columns].to_numpy(), whole[columns].to_numpy(), rtol=1e-6)


def test_batches_respect_the_pixel_budget():
    from srloss.evaluation.measure import same_size_batches

    image = ("x", np.zeros((3, 8, 8), np.uint8), np.zeros((3, 16, 16), np.uint8))
    images = [(f"i{k}", image[1], image[2]) for k in range(5)]
    assert [len(b) for b in same_size_batches(images, 8)] == [5]
    assert [len(b) for b in same_size_batches(images, 8, max_pixels=2 * 16 * 16)] == [2, 2, 1]
    assert [len(b) for b in same_size_batches(images, 8, max_pixels=10)] == [1, 1, 1, 1, 1]  # one always fits
