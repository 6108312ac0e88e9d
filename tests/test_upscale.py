"""``srloss upscale`` and ``srloss compare``: a trained run on one's own image files gives exactly the
evaluation stage's output; the grid holds those pixels; every refusal names the file and the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srloss.cli import main
from srloss.data.prepare import prepare
from srloss.data.shards import read_images, write_images
from srloss.evaluation import compare as grid
from srloss.evaluation.measure import DEFAULT_EVALUATION, evaluate
from srloss.evaluation.upscale import super_resolve_uint8
from srloss.models.base import build_model
from srloss.study import Run, Study, check_schema
from srloss.training.loop import train

DATASET = {
    "source": "packaged",
    "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
    "patch_size": 32,
    "stride": 32,
}
ESPCN = {"channels": 8, "hidden": 4, "residual": True}
WHOLE_CROP = {"images": 1, "size": 4096}  # crops.npz then holds the whole SR output (side = the image's)
OUTPUT = "astronaut_x2_p-g-l1-seed0.png"


def _spec() -> dict:
    config = {
        "study": "t",
        "datasets": {"p": DATASET},
        "models": {"g": {"arch": "espcn", "options": ESPCN}},
        "losses": {"l1": {"terms": [{"name": "l1"}]}},
        "scales": [2],
        "training": {"steps": 4, "batch_size": 4, "val_every": 2},
    }
    check_schema(config)
    return Study(config).run_spec(Run("p", "g", "l1", 2, 0))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A tiny ESPCN trained for 4 steps (its run folder as the workflow lays it out) and its test shard."""
    root = tmp_path_factory.mktemp("study")
    shards = {split: root / f"data/{split}.h5" for split in ("train", "val", "test")}
    prepare(DATASET, 2, shards)
    run = root / "results/t/runs/p/g/l1/x2/seed0"
    spec = _spec()
    out = {"model_out": run / "model.pt", "history_out": run / "history.csv", "record_out": run / "run.json"}
    record = train(spec, shards["train"], shards["val"], **out, best_out=run / "model_best.pt")
    assert record["steps_done"] == 4  # trained weights, whatever the health of so short a run
    (name, lr, hr), *_ = read_images(shards["test"])
    assert name == "astronaut" and lr.shape == (3, 256, 256)
    lr_png, hr_png = root / "astronaut.png", root / "astronaut_hr.png"
    Image.fromarray(lr.transpose(1, 2, 0)).save(lr_png)
    Image.fromarray(hr.transpose(1, 2, 0)).save(hr_png)
    return {"run": run, "spec": spec, "test": shards["test"], "lr": lr_png, "hr": hr_png, "root": root}


def _evaluated(tmp_path: Path, spec: dict, weights: Path, shard: Path, **evaluation) -> tuple[dict, float]:
    """Evaluation's whole SR output per image (its crops.npz) and the first image's PSNR-Y."""
    evaluation = {**DEFAULT_EVALUATION, "metrics": ["psnr_y"], "crops": WHOLE_CROP, **evaluation}
    table = evaluate(
        spec,
        weights,
        shard,
        tmp_path / "m.csv",
        tmp_path / "e.json",
        evaluation=evaluation,
        crops_out=tmp_path / "c.npz",
    )
    with np.load(tmp_path / "c.npz") as z:
        return {k[4:]: z[k] for k in z.files if k.startswith("sr__")}, float(table["psnr_y"].iloc[0])


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        return np.asarray(im).transpose(2, 0, 1)


@pytest.mark.parametrize("tile", [0, 40])
def test_upscale_writes_exactly_what_evaluation_computes(trained, tmp_path, tile):
    sr, _ = _evaluated(tmp_path, trained["spec"], trained["run"] / "model.pt", trained["test"], tile=tile)
    assert main(["upscale", str(trained["run"]), str(trained["lr"]), "--out", str(tmp_path / "out"),
                 "--tile", str(tile), "--device", "cpu"]) == 0  # fmt: skip
    written = _png(tmp_path / "out" / OUTPUT)
    assert written.dtype == np.uint8 and written.shape == (3, 512, 512)  # the input (256 px) x 2
    assert np.abs(written.astype(int) - sr["astronaut"].astype(int)).max() == 0


def test_upscale_uses_the_weights_the_evaluation_used(trained, tmp_path):
    """evaluation.weights: best: eval.json names model_best.pt, and upscale reads it."""
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    torch.manual_seed(3)
    other = build_model("espcn", 2, ESPCN)
    torch.save(other.state_dict(), run / "model_best.pt")
    (run / "eval.json").write_text(json.dumps({"checkpoint": "results/t/runs/p/g/l1/x2/seed0/model_best.pt"}))
    assert main(["upscale", str(run), str(trained["lr"]), "--out", str(tmp_path / "out")]) == 0
    lr = _png(trained["lr"])
    assert np.array_equal(_png(tmp_path / "out" / OUTPUT), super_resolve_uint8(other.eval(), lr, 2))
    final = build_model("espcn", 2, ESPCN)
    final.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    assert not np.array_equal(_png(tmp_path / "out" / OUTPUT), super_resolve_uint8(final.eval(), lr, 2))


def _frame_run(root: Path) -> tuple[Path, dict, Path]:
    """A 3-frame U-Net run folder (random weights), a test shard of one 3-frame sample, its frame folder."""
    from skimage import data

    options = {"frames": 3, "nf": 4, "depth": 1}
    spec = {"study": "t", "dataset": "faces", "model": "u", "arch": "unet_geu", "model_options": options}
    spec.update(loss="l1", scale=2, seed=0)
    run = root / "unet"
    run.mkdir()
    torch.manual_seed(0)
    torch.save(build_model("unet_geu", 2, options).state_dict(), run / "model.pt")
    (run / "run.json").write_text(json.dumps({"spec": spec, "status": "completed"}))
    image = data.astronaut()
    lr = np.stack([image[100 + t : 132 + t, 200:232].transpose(2, 0, 1) for t in range(3)])  # square:
    hr = image[:64, :64].transpose(2, 0, 1).copy()  # crops.npz then holds the whole output
    shard = root / "frames.h5"
    write_images(shard, [("face", lr, hr)], 2, {"degradation": {"frames": 3}})
    frames = root / "face"
    frames.mkdir()
    for t in range(3):
        Image.fromarray(lr[t].transpose(1, 2, 0)).save(frames / f"frame{t}.png")
    return run, spec, frames


def test_a_multi_frame_run_takes_a_folder_of_frames_and_gives_evaluations_output(tmp_path, capsys):
    run, spec, frames = _frame_run(tmp_path)
    sr, _ = _evaluated(tmp_path, spec, run / "model.pt", tmp_path / "frames.h5")
    assert main(["upscale", str(run), str(frames), "--out", str(tmp_path / "out")]) == 0
    written = _png(tmp_path / "out" / "face_x2_faces-u-l1-seed0.png")
    assert written.shape == (3, 64, 64) and np.array_equal(written, sr["face"])
    assert main(["upscale", str(run), str(frames / "frame0.png"), "--out", str(tmp_path / "out")]) == 3
    assert "multi-frame model (3 frames per sample); give a folder holding the 3 frames" in capsys.readouterr().err
    (frames / "frame2.png").unlink()
    assert main(["upscale", str(run), str(frames), "--out", str(tmp_path / "out")]) == 3
    assert f"{frames}: holds 2 files, but the model takes 3 frames" in capsys.readouterr().err


def test_compare_puts_each_output_window_and_the_ground_truth_side_by_side(trained, tmp_path):
    out = tmp_path / "grid.png"
    args = ["compare", str(trained["lr"]), str(trained["run"]), "--hr", str(trained["hr"]), "--crop", "10,20,30,25"]
    assert main([*args, "--out", str(out)]) == 0
    zoom = 4  # a 30 px window at x2 is 60 px: enlarged 4 times to reach 192 px
    assert grid.zoom_factor(60) == zoom and grid.MIN_PANEL == 192
    panel_w, panel_h, top = 60 * zoom, 50 * zoom, grid.GAP + grid.LABEL_LINES * grid.LINE
    pixels = _png(out)
    assert pixels.shape == (3, top + panel_h + grid.GAP, grid.GAP + 3 * (panel_w + grid.GAP))  # bicubic, run, HR

    lr = _png(trained["lr"])
    model = build_model("espcn", 2, ESPCN)
    model.load_state_dict(torch.load(trained["run"] / "model.pt", weights_only=True))
    outputs = [super_resolve_uint8(m.eval(), lr, 2) for m in (build_model("bicubic", 2), model)] + [_png(trained["hr"])]
    for i, image in enumerate(outputs):
        window = image[:, 40:90, 20:80].repeat(zoom, axis=1).repeat(zoom, axis=2)
        left = grid.GAP + i * (panel_w + grid.GAP)
        assert np.array_equal(pixels[:, top : top + panel_h, left : left + panel_w], window), f"panel {i}"


def test_compare_labels_give_the_evaluations_psnr_y(trained, tmp_path):
    _, psnr_y = _evaluated(tmp_path, trained["spec"], trained["run"] / "model.pt", trained["test"])
    upscaled = tmp_path / "out" / OUTPUT
    assert main(["upscale", str(trained["run"]), str(trained["lr"]), "--out", str(tmp_path / "out")]) == 0
    assert grid._distortion(_png(upscaled), _png(trained["hr"]), 2) == f"PSNR Y {psnr_y:.2f} dB"


def test_compare_without_ground_truth_shows_the_most_detailed_window(trained, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["compare", str(trained["lr"]), str(trained["run"]), "--out", str(out)]) == 0
    side = grid.DEFAULT_SIDE * 2 * grid.zoom_factor(grid.DEFAULT_SIDE * 2)
    assert _png(out).shape == (
        3,
        grid.GAP + grid.LABEL_LINES * grid.LINE + side + grid.GAP,
        grid.GAP + 2 * (side + grid.GAP),
    )
    x, y, w, h = grid.default_crop(_png(trained["lr"]))
    assert w == h == grid.DEFAULT_SIDE and (x, y) != (0, 0)  # the astronaut's detail, not the corner


def _bad(kind: str, trained: dict, tmp: Path) -> list[str]:
    """The command line of one refusal case, with the files it needs made in ``tmp``."""
    run, lr, out = str(trained["run"]), str(trained["lr"]), str(tmp / "out")
    if kind == "no run.json":
        (tmp / "empty").mkdir()
        return ["upscale", str(tmp / "empty"), lr, "--out", out]
    if kind in ("no model.pt", "foreign weights"):
        shutil.copytree(trained["run"], tmp / "r", ignore=shutil.ignore_patterns("*.pt"))
        if kind == "foreign weights":
            torch.save(build_model("srcnn", 2).state_dict(), tmp / "r/model.pt")
        return ["upscale", str(tmp / "r"), lr, "--out", out]
    if kind == "unreadable image":
        (tmp / "notes.png").write_text("not an image")
        return ["upscale", run, str(tmp / "notes.png"), "--out", out]
    if kind == "folder to a single-image model":
        return ["upscale", run, str(tmp), "--out", out]
    if kind == "two scales":
        shutil.copytree(trained["run"], tmp / "x4")
        record = json.loads((tmp / "x4/run.json").read_text())
        (tmp / "x4/run.json").write_text(json.dumps({**record, "spec": {**record["spec"], "scale": 4}}))
        return ["compare", lr, run, str(tmp / "x4"), "--out", str(tmp / "g.png")]
    cases = {
        "no run folder": ["upscale", str(tmp / "nowhere"), lr, "--out", out],
        "no image": ["upscale", run, str(tmp / "missing.png"), "--out", out],
        "crop outside": ["compare", lr, run, "--crop", "250,0,10,10", "--out", str(tmp / "g.png")],
        "hr of another size": ["compare", lr, run, "--hr", lr, "--out", str(tmp / "g.png")],
        "grid not png": ["compare", lr, run, "--out", str(tmp / "g.jpg")],
    }
    return cases[kind]


@pytest.mark.parametrize(
    "kind, message",
    [
        ("no run folder", "nowhere: no such run folder; give a trained run's folder, results/<study>/runs/"),
        ("no run.json", "empty/run.json: not found, so"),
        ("no model.pt", "r/model.pt: not found: the run has not finished training"),
        ("foreign weights", "r/model.pt: cannot load these weights into the model run.json describes"),
        ("no image", "missing.png: no such image file; give the path of an image"),
        ("unreadable image", "notes.png: cannot read image: "),
        ("unreadable image", "; give an image file (PNG, JPEG, TIFF, BMP, WebP)"),
        ("folder to a single-image model", "a folder, but this model takes single images; give the image files"),
        ("two scales", "the runs differ in scale"),
        ("crop outside", "--crop 250,0,10,10: reaches (260, 10), outside"),
        ("hr of another size", "256x256 px, but the input is 256x256 px at x2, so the ground truth must be 512x512"),
        ("grid not png", "g.jpg: the grid is written as PNG; give a file name ending in .png"),
    ],
)
def test_each_refusal_is_one_line_naming_the_file_and_the_fix(trained, tmp_path, capsys, kind, message):
    assert main(_bad(kind, trained, tmp_path)) == 3
    err = capsys.readouterr().err
    assert err.startswith("srloss: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_guide_states_the_grids_defaults(repo):
    guide = (repo / "docs/using-models.md").read_text()
    assert f"{grid.DEFAULT_SIDE} x {grid.DEFAULT_SIDE} px window" in guide
    assert f"at least {grid.MIN_PANEL} px wide" in guide
