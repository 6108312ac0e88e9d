"""Reliability class "images": every mode Pillow opens becomes correct 8-bit RGB or is refused with
the file named; EXIF orientation is applied; images too small for their split are refused at
config time (through the real snakemake CLI, before any job) and again by the prepare job."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workflow_runner import run_snakemake

from srloss.data.images import ImageError, image_size, read_rgb, to_rgb8
from srloss.data.prepare import prepare
from srloss.data.sources import DatasetError

RNG = np.random.default_rng(1)


def _save(path: Path, im: Image.Image, **kw) -> Path:
    im.save(path, **kw)
    return path


def test_images_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    values = RNG.integers(0, 65536, (24, 20), dtype=np.uint16)
    values[0, :4] = [0, 257, 65535, 128]
    path = _save(tmp_path / "g16.png", Image.fromarray(values))
    assert Image.open(path).mode == "I;16"  # what Pillow hands over for 16-bit greyscale PNG
    rgb = read_rgb(path)
    expected = np.round(values / 257).astype(np.uint8)  # v * 255 / 65535
    assert rgb.dtype == np.uint8 and rgb.shape == (24, 20, 3)
    np.testing.assert_array_equal(rgb[..., 0], expected)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert list(rgb[0, :4, 0]) == [0, 1, 255, 0] and rgb.mean() < 200  # not the all-white image of convert("RGB")


def _png_rgb16(path: Path, arr: np.ndarray) -> Path:
    """A 16-bit-per-channel RGB PNG written byte by byte (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def test_images_16_bit_rgb_png_within_one_level(tmp_path):
    arr = RNG.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    rgb = read_rgb(_png_rgb16(tmp_path / "rgb16.png", arr))
    assert np.abs(rgb.astype(int) - np.round(arr / 257)).max() <= 1


OPAQUE_BLACK = {"LA": (0, 255), "La": (0, 255), "PA": (0, 255), "RGBA": (0, 0, 0, 255), "RGBa": (0, 0, 0, 255)}
BLACK = {**OPAQUE_BLACK, "YCbCr": (0, 128, 128)}  # full-range YCbCr (JPEG's): black has neutral chroma


@pytest.mark.parametrize("mode", sorted(set(Image.MODES)))
def test_images_every_pillow_mode_is_converted_or_refused_by_name(mode):
    """Each mode: a uniform image of a known colour gives that colour, or the refusal names the file."""
    if mode in OPAQUE_BLACK:  # the same image fully transparent is refused
        with pytest.raises(ImageError, match=r"^somewhere/photo\.tif: 30 of 30 pixels are \(partly\) transparent"):
            to_rgb8(Image.new(mode, (6, 5)), "somewhere/photo.tif")
    im = Image.new(mode, (6, 5), BLACK.get(mode, 0))
    try:
        rgb = to_rgb8(im, "somewhere/photo.tif")
    except ImageError as e:
        assert str(e).startswith("somewhere/photo.tif: ")
        assert mode in ("F", "LAB"), f"mode {mode} refused: {e}"
        return
    assert rgb.shape == (5, 6, 3) and rgb.dtype == np.uint8
    expected = {"CMYK": 255}.get(mode, 0)  # Image.new: black, except CMYK (0,0,0,0) = white
    assert (rgb == expected).all(), (mode, rgb[0, 0])


def test_images_greyscale_palette_bilevel_and_cmyk(tmp_path):
    grey = RNG.integers(0, 256, (9, 7), dtype=np.uint8)
    rgb = read_rgb(_save(tmp_path / "l.png", Image.fromarray(grey)))
    np.testing.assert_array_equal(rgb, np.repeat(grey[..., None], 3, 2))
    colour = RNG.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    pal = Image.fromarray(colour).quantize(16)
    path = _save(tmp_path / "p.png", pal)
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(read_rgb(path), np.asarray(pal.convert("RGB")))
    bits = _save(tmp_path / "b.png", Image.fromarray(grey > 127))
    assert set(np.unique(read_rgb(bits))) <= {0, 255}
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 0, 0, 255], [0, 128, 255, 64]]], np.uint8)
    path = _save(tmp_path / "c.tif", Image.fromarray(cmyk, "CMYK"))
    k = 255 - cmyk[..., 3:].astype(int)
    expected = np.round((255 - cmyk[..., :3].astype(int)) * k / 255)  # R = (1 - C)(1 - K)
    assert np.abs(read_rgb(path).astype(int) - expected).max() <= 1


def test_images_alpha_is_dropped_only_when_opaque(tmp_path):
    colour = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    opaque = np.dstack([colour, np.full((8, 8), 255, np.uint8)])
    np.testing.assert_array_equal(read_rgb(_save(tmp_path / "a.png", Image.fromarray(opaque))), colour)
    holes = opaque.copy()
    holes[2, 3, 3] = 0
    with pytest.raises(
        ImageError, match=r"holes\.png: 1 of 64 pixels are \(partly\) transparent \(mode RGBA\); flatten"
    ):
        read_rgb(_save(tmp_path / "holes.png", Image.fromarray(holes)))
    la = Image.fromarray(
        np.dstack([colour[..., 0], np.where(np.arange(64).reshape(8, 8) == 5, 10, 255).astype(np.uint8)]), "LA"
    )
    with pytest.raises(ImageError, match=r"la\.png: .*mode LA"):
        read_rgb(_save(tmp_path / "la.png", la))


def test_images_exif_rotation_is_applied_in_pixels_and_size(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :10] = 255  # a white band on the left of the stored (sideways) image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(tmp_path / "phone.jpg", Image.fromarray(stored), exif=exif.tobytes(), quality=95)
    decoded = np.asarray(Image.open(path).convert("RGB"))
    upright = read_rgb(path)
    assert upright.shape == (40, 20, 3) and image_size(path) == (20, 40)
    np.testing.assert_array_equal(upright, np.rot90(decoded, k=-1))  # clockwise: the band is now on top
    assert upright[:10].mean() > 200 and upright[20:].mean() < 50


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda p: _save(p, Image.fromarray(np.full((4, 4), 70000, np.int32), "I"), format="TIFF"),
            "outside the 16-bit range",
        ),
        (
            lambda p: _save(p, Image.fromarray(np.zeros((4, 4), np.float32), "F"), format="TIFF"),
            "image mode 'F' cannot be converted",
        ),
        (
            lambda p: _save(
                p,
                Image.new("RGB", (4, 4)),
                format="GIF",
                save_all=True,
                append_images=[Image.new("RGB", (4, 4), (255, 0, 0))],
            ),
            "holds 2 frames",
        ),
        (lambda p: p.write_bytes(b"not an image at all"), "cannot read image"),
    ],
)
def test_images_unconvertible_files_are_refused_naming_the_file(tmp_path, make, match):
    path = tmp_path / "bad.img"
    make(path)
    with pytest.raises(ImageError, match=match) as err:
        read_rgb(path)
    assert str(err.value).startswith(f"{path}: ")


def test_images_i_mode_within_16_bits_is_scaled(tmp_path):
    values = np.array([[0, 257, 65535, 1000]], np.int32)
    path = _save(tmp_path / "i.tif", Image.fromarray(values, "I"))
    np.testing.assert_array_equal(read_rgb(path)[0, :, 1], [0, 1, 255, 4])


def _folder(root: Path, sizes: dict[str, tuple[int, int]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, (w, h) in sizes.items():
        Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"{name}.png")


def test_images_too_small_are_refused_by_the_prepare_job(tmp_path):
    _folder(tmp_path / "imgs", {"big": (64, 64), "tiny": (20, 40)})
    spec = {"source": "folder", "root": str(tmp_path / "imgs"), "splits": {"test": ["big", "tiny"]}}
    with pytest.raises(
        DatasetError, match=r"split 'test': image 'tiny' is 20x40 px, too small at scale 4: .*at least 39 px"
    ):
        prepare(spec, 4, {"test": tmp_path / "test.h5"})
    assert not (tmp_path / "test.h5").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    "split, sizes, patch, message",
    [
        ("test", {"tiny": (30, 60)}, 16, "image 'tiny' ({root}/tiny.png) is 30x60 px, too small at scale 4"),
        ("train", {"tiny": (40, 12)}, 16, "image 'tiny' ({root}/tiny.png) is 40x12 px, smaller than patch_size 16"),
    ],
)
def test_images_too_small_are_refused_at_config_time(tmp_path, split, sizes, patch, message):
    """Through the real snakemake CLI: one line naming the image, before any job (nothing is written)."""
    root = tmp_path / "imgs"
    _folder(root, {"a": (64, 64), "b": (64, 64), "c": (64, 64), **sizes})
    splits = {"train": ["a"], "val": ["b"], "test": ["c"]}
    splits[split].append("tiny")
    config = {
        "study": "small",
        "scales": [2, 4],
        "datasets": {
            "mine": {"source": "folder", "root": str(root), "splits": splits, "patch_size": patch, "stride": patch}
        },
        "models": {"espcn": {"arch": "espcn"}},
        "losses": {"l1": {"terms": [{"name": "l1"}]}},
    }
    result = run_snakemake(tmp_path, "-n", "--cores", "1", config=config, timeout=300)
    assert result.returncode != 0
    line = f"srloss: config error: config key datasets.mine.splits.{split}: " + message.format(root=root)
    assert line in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr
    assert not (tmp_path / "results").exists()
