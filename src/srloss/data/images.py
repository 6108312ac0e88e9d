"""Image files to 8-bit RGB arrays, every mode Pillow opens converted correctly or refused by name.

Pillow hands images over in many modes; ``Image.convert("RGB")`` alone is wrong for several of
them (a 16-bit greyscale PNG, mode ``I;16``, is clipped to white). ``read_rgb`` therefore
converts mode by mode:

* ``RGB``, ``RGBX``; ``L`` and ``1`` (greyscale, bilevel), ``P`` (palette), ``YCbCr``, ``HSV``: Pillow's conversion;
* ``I;16*`` (16-bit greyscale PNG/TIFF) and ``I`` holding values in 0..65535: scaled to 8 bits
  as round(v * 255 / 65535), i.e. v / 257, the inverse of 8-to-16-bit replication (v * 257);
* ``RGBA``, ``LA``, ``PA``, ``La``, ``RGBa`` and ``P`` with a transparent colour: the alpha channel is
  dropped when every pixel is opaque, else refused (the colour of a transparent pixel is undefined);
* ``CMYK``: through the embedded ICC profile when there is one (to sRGB), else Pillow's conversion;
* 32-bit float ``F`` (its range is unknown), ``I`` outside 0..65535, and ``LAB``: refused.

The EXIF orientation tag is applied first (a phone photo stored sideways is read upright), and
multi-frame files (animations, multi-page TIFF) are refused rather than silently cut to frame 0.
``image_size`` reads the same upright size from the header alone, without decoding pixels, so
the config check can refuse too-small images before any job runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srloss.errors import UserError

EXIF_ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # rotated by 90 or 270 degrees: width and height trade places
ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}
CONVERTIBLE_MODES = {"RGB", "RGBX", "L", "1", "P", "YCbCr", "HSV"}


class ImageError(UserError, ValueError):
    """An image file cannot be read, or not as an 8-bit RGB image."""


def _scale_16_to_8(values: np.ndarray) -> np.ndarray:
    """16-bit values (0..65535) to 8 bits, rounding v * 255 / 65535."""
    v = values.astype(np.uint32)
    return ((v * 255 + 32767) // 65535).astype(np.uint8)


def _grey16_to_rgb(im, path: Path) -> np.ndarray:
    values = np.asarray(im)
    if im.mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
        raise ImageError(
            f"{path}: 32-bit integer image with values {values.min()}..{values.max()}, outside the "
            "16-bit range; save it as an 8- or 16-bit PNG"
        )
    grey = _scale_16_to_8(values)
    return np.repeat(grey[..., None], 3, axis=2)


def _drop_opaque_alpha(im, path: Path) -> np.ndarray:
    rgba = np.asarray((im.convert("LA") if im.mode == "La" else im).convert("RGBA"))  # La: premultiplied
    transparent = int((rgba[..., 3] < 255).sum())
    if transparent:
        raise ImageError(
            f"{path}: {transparent} of {rgba.shape[0] * rgba.shape[1]} pixels are (partly) transparent "
            f"(mode {im.mode}); flatten the image onto a background and save it without alpha"
        )
    return np.ascontiguousarray(rgba[..., :3])


def _cmyk_to_rgb(im) -> np.ndarray:
    icc = im.info.get("icc_profile")
    if icc:
        import io

        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return np.asarray(ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB"))
    return np.asarray(im.convert("RGB"))


def to_rgb8(im, path: str | Path = "<image>") -> np.ndarray:
    """An opened, upright PIL image as an HxWx3 uint8 RGB array (see the module docstring)."""
    path = Path(path)
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        return _grey16_to_rgb(im, path)
    if mode in ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        return _drop_opaque_alpha(im, path)
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode in CONVERTIBLE_MODES:
        return np.asarray(im.convert("RGB"))
    raise ImageError(
        f"{path}: image mode {mode!r} cannot be converted to 8-bit RGB reliably; "
        "save it as an 8-bit RGB (or 16-bit greyscale) PNG"
    )


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as an HxWx3 uint8 RGB array, upright (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        with Image.open(path) as im:
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise ImageError(
                    f"{path}: holds {frames} frames (an animation or multi-page file); save the one "
                    "image to use as a single-frame PNG"
                )
            upright = ImageOps.exif_transpose(im)
            return np.ascontiguousarray(to_rgb8(upright, path))
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageError(f"{path}: cannot read image: {e}") from e


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as ``read_rgb`` returns it, read from the header; an image
    ``read_rgb`` would refuse is refused here too (the config check and the prepare job agree):
    from the header alone for a multi-frame file, by decoding it only when its mode may hide a
    reason (alpha, 16-bit, float, CMYK, a transparent palette colour)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
            plain = im.mode in CONVERTIBLE_MODES and "transparency" not in im.info
            frames = getattr(im, "n_frames", 1)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageError(f"{path}: cannot read image: {e}") from e
    if frames > 1 or not plain:
        read_rgb(path)  # raises ImageError with the reason when the pixels cannot be used
    return (height, width) if orientation in SWAPPING_ORIENTATIONS else (width, height)


# Whole test/validation images: the metrics need this many pixels per side after cropping `scale`
# pixels from each border (SSIM's 11x11 window; LPIPS-AlexNet's strided trunk needs 31).
MIN_CROPPED_SIDE = 31


def size_problem(size: tuple[int, int], split: str, patch_size: int, scales: list[int]) -> str | None:
    """Why an image of ``size`` (width, height) cannot serve ``split`` at these scales, or None.

    Training images must hold at least one ``patch_size`` patch. Whole images are mod-cropped to
    a multiple of the scale and must keep ``MIN_CROPPED_SIDE`` pixels after the border crop.
    """
    width, height = size
    short = min(width, height)
    if split == "train":
        if short < patch_size:
            return f"is {width}x{height} px, smaller than patch_size {patch_size}: no training patch fits"
        return None
    for scale in sorted(scales, reverse=True):
        usable = short // scale * scale - 2 * scale
        if usable < MIN_CROPPED_SIDE:
            need = 2 * scale + MIN_CROPPED_SIDE
            return (
                f"is {width}x{height} px, too small at scale {scale}: the metrics need at least {need} px per side "
                f"({MIN_CROPPED_SIDE} px after cropping {scale} px from each border)"
            )
    return None
