"""Real image files for the tests: 16-bit copies of 8-bit pictures, and decompression bombs.

Written with PIL or byte by byte (the bomb: a real PNG whose header declares a huge image, with the
zlib stream of all its rows, small because they are all zero) so the reader sees what a user's file holds.
"""

from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_16_bit_copy(picture: Image.Image, path: Path) -> Path:
    """Save a grey 8-bit picture as a 16-bit PNG of the same picture (each value v stored as v * 257)."""
    pixels = np.asarray(picture.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(pixels).save(path)  # mode I;16: PIL writes a 16-bit greyscale PNG
    return path


def write_png_bomb(path: Path, side: int) -> Path:
    """A real side x side greyscale PNG of zeros: 875 KB on disk for side=30000, 900 MB decoded."""
    path.write_bytes(_png_bomb(side))
    return path


@functools.cache
def _png_bomb(side: int) -> bytes:
    deflate = zlib.compressobj(9)
    rows = bytes(side + 1) * 1000  # each row: filter byte 0, then `side` zero pixels
    whole, rest = divmod(side, 1000)
    idat = b"".join(deflate.compress(rows) for _ in range(whole)) + deflate.compress(rows[: rest * (side + 1)])
    idat += deflate.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
