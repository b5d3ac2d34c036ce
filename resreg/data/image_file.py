"""Opening one image file for resreg: `open_image(path)` -> an 8-bit PIL image, or one `BadImageError` line.

    image = open_image("scan.png")               # 16-bit grey PNG -> mode "L", scaled, not clipped
    image = open_image(data, mode="RGB")         # bytes work too; grey, palette, CMYK, ... -> RGB

Every place resreg decodes an image file (predict, the image-folder loader) goes through here, so a
file means the same thing everywhere:
- High bit depths are scaled to 8 bits, never clipped (PIL's own `convert("L")` clips a 16-bit grey
  image to almost all white): `I;16*` and `I` images are read as 0..65535 (PIL decodes 16-bit PNG,
  TIFF and PGM so, with PGM's maxval already scaled up), `F` images as 0..1. Other ranges are refused:
  nothing says what black and white would be.
- Palette images go through RGBA, so a transparent palette entry is alpha like any other. Alpha is then
  dropped, as torchvision's and timm's loaders drop it: the colour under it is what the model sees.
- CMYK, YCbCr, LAB, ... convert with PIL (no colour management, as torchvision and timm).
- EXIF orientation IS applied (unlike torchvision's and timm's loaders): a phone photo is seen upright,
  as every image viewer shows it. Training and predict read files the same way, so they agree.
- An image of more than MAX_IMAGE_PIXELS is refused before it is decoded: a small file can declare a
  huge image (a 30000 x 30000 PNG compresses to under 1 MB and decodes to 900 MB). The limit is
  resreg's, the same on every machine, whatever PIL's `Image.MAX_IMAGE_PIXELS` is set to.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from resreg.errors import DataError

#: the largest image resreg decodes: 8192 x 8192 (64 megapixels, a 192 MiB RGB image in memory)
MAX_IMAGE_PIXELS = 8192 * 8192

#: modes already 8 bits per channel that are grey; the others (RGB, CMYK, P, ...) are read as colour
_GREY_MODES = ("1", "L", "LA", "La")
#: the range each high-bit-depth mode is read in: (black, white)
_HIGH_BIT_DEPTH_RANGES = {"I": (0, 65535), "F": (0.0, 1.0)}


class BadImageError(DataError):
    """An image file cannot be read: not an image, truncated, too large, or a range resreg cannot scale."""


def open_image(
    source: str | os.PathLike[str] | bytes,
    mode: Literal["RGB", "L"] | None = "RGB",
    *,
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode one image file into an 8-bit image of `mode`, decoded in full and closed.

    Args:
        source: a file path, or the file's bytes.
        mode: "RGB" or "L"; None keeps a grey image grey ("L") and reads everything else as "RGB".
        draft_size: the smallest (width, height) the caller needs: a JPEG may decode at 1/2, 1/4 or
            1/8 scale when both sides stay at least this large (much faster for big photos).

    Raises:
        BadImageError: one line naming the file and what is wrong with it.
    """
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<image bytes>"
    file = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            # PIL warns from 89 megapixels on; resreg's own, lower limit below refuses those images anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(file)
    except Image.DecompressionBombError:
        raise BadImageError(_too_large(name)) from None
    except FileNotFoundError:
        raise BadImageError(f"{name}: no such file") from None
    except Exception as exc:  # decoding untrusted bytes: whatever PIL raises means a bad file
        raise BadImageError(f"{name}: not an image resreg can read ({_reason(exc)})") from None
    with opened as image:  # closes the file; the decoded pixels stay
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise BadImageError(_too_large(name, image.size))
        _decode(image, name, draft_size, mode)
    return to_8bit(image, mode, name=name)


def to_8bit(image: Image.Image, mode: Literal["RGB", "L"] | None = "RGB", *, name: str = "<image>") -> Image.Image:
    """An image already in memory in `mode` (see `open_image`), high bit depths scaled, not clipped."""
    if image.mode.startswith("I;16") or image.mode in _HIGH_BIT_DEPTH_RANGES:
        image = _scaled_to_grey(image, name)
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # a palette's transparency becomes alpha (PIL warns on a direct RGB convert)
    target = mode or ("L" if image.mode in _GREY_MODES else "RGB")
    if image.mode == target:
        return image
    try:
        if target == "L" and image.mode not in ("1", "LA", "RGB", "RGBA"):
            image = image.convert("RGB")  # PIL has no direct LAB -> L, HSV -> L, ...
        return image.convert(target)
    except ValueError:
        raise BadImageError(f"{name}: PIL cannot convert a {image.mode!r} image to {target!r}") from None


def _decode(image: Image.Image, name: str, draft_size: tuple[int, int] | None, mode: str | None) -> None:
    """Decode the pixels and turn them upright by their EXIF orientation."""
    try:
        if draft_size is not None and image.format == "JPEG":
            image.draft(mode, draft_size)
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:  # a truncated or corrupt file fails here, in any of PIL's decoders
        raise BadImageError(f"{name}: cannot decode this image ({_reason(exc)})") from None


def _scaled_to_grey(image: Image.Image, name: str) -> Image.Image:
    """A 16-bit, 32-bit integer or float grey image as 8-bit "L": its range mapped onto 0..255, rounded."""
    black, white = _HIGH_BIT_DEPTH_RANGES["F" if image.mode == "F" else "I"]
    pixels = np.asarray(image, dtype=np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    if low < black or high > white:
        raise BadImageError(
            f"{name}: a {image.mode!r} image with values from {low:g} to {high:g}; resreg reads this mode as "
            f"{black:g} (black) to {white:g} (white): save it as an 8- or 16-bit PNG"
        )
    scaled = np.rint((pixels - black) * (255 / (white - black))).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _too_large(name: str, size: tuple[int, int] | None = None) -> str:
    declared = f"{size[0]} x {size[1]} pixels" if size else "more pixels than PIL allows"
    return (
        f"{name}: the image declares {declared}, over resreg's limit of {MAX_IMAGE_PIXELS:,} "
        "(8192 x 8192): not decoded, it could be a decompression bomb"
    )


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
