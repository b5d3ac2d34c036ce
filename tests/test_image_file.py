"""resreg.data.image_file: every image file read as what it is, or refused in one line naming it."""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from image_files import write_16_bit_copy, write_png_bomb
from PIL import Image

from resreg.data.image_file import MAX_IMAGE_PIXELS, BadImageError, open_image, to_8bit
from resreg.errors import DataError


def _gradient(width: int = 64, height: int = 48) -> Image.Image:
    """A grey picture with every value 0..255 in it (so clipping or a wrong scale shows)."""
    values = (np.arange(width * height) % 256).astype(np.uint8).reshape(height, width)
    return Image.fromarray(values, mode="L")


def _assert_one_line_naming(error: pytest.ExceptionInfo[BadImageError], path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(path))
    assert isinstance(error.value, DataError)  # the CLI prints a ResregError as one line, exit status 2


def test_a_16_bit_grey_png_reads_as_the_same_picture_in_8_bits(tmp_path: Path) -> None:
    picture = _gradient()
    path = write_16_bit_copy(picture, tmp_path / "deep.png")
    assert Image.open(path).mode == "I;16"  # a real 16-bit PNG, which PIL's convert("L") clips to white
    image = open_image(path, mode="L")
    assert image.mode == "L" and np.array_equal(np.asarray(image), np.asarray(picture))
    rgb = open_image(path)
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb)[..., 1], np.asarray(picture))


def test_16_bit_values_between_two_8_bit_levels_go_to_the_nearer_one(tmp_path: Path) -> None:
    path = tmp_path / "between.png"
    Image.fromarray(np.array([[0, 128, 129, 32767, 65000, 65535]], dtype=np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    # v * 255 / 65535 = 0, 0.498, 0.502, 127.498, 252.918, 255: rounded, not truncated (0 and 252)
    assert np.asarray(open_image(path, mode="L")).tolist() == [[0, 0, 1, 127, 253, 255]]


def test_a_16_bit_pgm_and_tiff_read_as_their_8_bit_pictures(tmp_path: Path) -> None:
    picture = _gradient()
    sixteen = np.asarray(picture, dtype=np.uint16) * 257
    pgm = tmp_path / "deep.pgm"  # big-endian 16-bit samples: PIL decodes it as mode I
    pgm.write_bytes(b"P5 %d %d 65535\n" % picture.size + sixteen.astype(">u2").tobytes())
    tiff = tmp_path / "deep.tif"
    Image.fromarray(sixteen).save(tiff)
    for path in (pgm, tiff):
        assert np.array_equal(np.asarray(open_image(path, mode="L")), np.asarray(picture)), path


def test_a_float_image_is_read_as_0_to_1_and_other_ranges_are_refused(tmp_path: Path) -> None:
    picture = _gradient()
    unit = tmp_path / "unit.tif"
    Image.fromarray(np.asarray(picture, dtype=np.float32) / 255).save(unit)
    assert np.array_equal(np.asarray(open_image(unit, mode="L")), np.asarray(picture))
    wide = tmp_path / "wide.tif"
    Image.fromarray(np.asarray(picture, dtype=np.float32)).save(wide)  # 0..255 as floats: no known white
    with pytest.raises(BadImageError, match=r"values from 0 to 255; resreg reads this mode as 0 \(black\) to 1") as e:
        open_image(wide)
    _assert_one_line_naming(e, wide)


def test_a_32_bit_integer_image_beyond_16_bits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "counts.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(BadImageError, match="values from 0 to 70000") as e:
        open_image(path)
    _assert_one_line_naming(e, path)


def test_palette_transparency_cmyk_and_grey_alpha_convert_without_warnings(tmp_path: Path) -> None:
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 200, 30, 10] + [0] * 762)
    palette.save(tmp_path / "palette.png", transparency=bytes([0, 128]))  # alpha per palette entry
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("LA", (8, 8), (90, 0)).save(tmp_path / "grey_alpha.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL warns when a palette with transparency goes straight to RGB
        assert open_image(tmp_path / "palette.png").getpixel((0, 0)) == (200, 30, 10)
        red = open_image(tmp_path / "cmyk.jpg").getpixel((0, 0))
        grey = open_image(tmp_path / "grey_alpha.png", mode=None)
    assert red[0] > 200 and red[1] < 40 and red[2] < 40
    assert grey.mode == "L" and grey.getpixel((0, 0)) == 90  # alpha dropped, the grey under it kept


def test_mode_none_keeps_grey_grey_and_reads_the_rest_as_rgb(tmp_path: Path) -> None:
    _gradient().save(tmp_path / "grey.png")
    Image.new("RGBA", (4, 4), (1, 2, 3, 4)).save(tmp_path / "colour.png")
    assert open_image(tmp_path / "grey.png", mode=None).mode == "L"
    assert open_image(tmp_path / "colour.png", mode=None).getpixel((0, 0)) == (1, 2, 3)


def test_exif_orientation_turns_a_photo_upright(tmp_path: Path) -> None:
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.new("RGB", (40, 20)).save(path, exif=exif)
    assert open_image(path).size == (20, 40)


def test_bytes_and_a_draft_size_are_read_too(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (512, 512), (10, 200, 30)).save(buffer, "JPEG")
    assert open_image(buffer.getvalue()).size == (512, 512)
    assert open_image(buffer.getvalue(), draft_size=(100, 100)).size == (128, 128)  # 1/4 scale, >= 100


@pytest.mark.parametrize("side", [9000, 30000])  # over resreg's limit; the second over PIL's too
def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path: Path, side: int) -> None:
    path = write_png_bomb(tmp_path / "bomb.png", side)
    assert path.stat().st_size < 1_000_000 and side * side > MAX_IMAGE_PIXELS
    started = time.monotonic()
    with pytest.raises(BadImageError, match=r"over resreg's limit of 67,108,864 .*decompression bomb") as e:
        open_image(path)
    assert time.monotonic() - started < 1.0  # nothing was decoded
    _assert_one_line_naming(e, path)
    if side == 9000:
        assert "9000 x 9000 pixels" in str(e.value)


def test_an_image_at_the_limit_is_read(tmp_path: Path) -> None:
    path = write_png_bomb(tmp_path / "large.png", 2048)
    assert open_image(path, mode="L").size == (2048, 2048)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"GIF89a not really", "not an image resreg can read"),
        (b"\x00" * 100, "not an image resreg can read"),
        (None, "cannot decode this image"),  # a real PNG cut in half
    ],
)
def test_an_undecodable_file_is_one_line_naming_it(tmp_path: Path, content: bytes | None, says: str) -> None:
    path = tmp_path / "bad.png"
    if content is None:
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, "PNG")
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    path.write_bytes(content)
    with pytest.raises(BadImageError, match=says) as e:
        open_image(path)
    _assert_one_line_naming(e, path)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BadImageError, match="no such file") as e:
        open_image(tmp_path / "gone.png")
    _assert_one_line_naming(e, tmp_path / "gone.png")


def test_to_8bit_scales_an_image_already_in_memory() -> None:
    picture = _gradient()
    sixteen = Image.fromarray(np.asarray(picture, dtype=np.uint16) * 257)
    assert np.array_equal(np.asarray(to_8bit(sixteen, "L")), np.asarray(picture))
