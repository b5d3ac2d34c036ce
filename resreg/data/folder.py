"""A split of image files decoded on the fly (the ImageNet layout's splits; a plugin lists the files)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image

from resreg.data.image_file import open_image
from resreg.errors import ConfigError

#: what counts as an image (torchvision's ImageFolder list).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: evaluation resizes the shorter side to crop / 0.875 (256 for a 224 crop) and takes the centre.
EVAL_CROP_FRACTION = 0.875
#: where a JPEG is decoded: PIL in the worker processes, or torchvision in batches on the training device.
Decode = Literal["auto", "cpu", "cuda"]
#: whether the next batch is made while this one trains (auto: on CUDA).
Prefetch = bool | Literal["auto"]


@dataclass
class FolderSplit:
    """One split of image files, decoded as the loader needs them: (path, label) pairs, the name of each
    label, the side in pixels of the square crop fed to the model, and how the files are read.

    Any format that is a list of image files fits (the `imagefolder` plugin lists `<split>/<class>/<image>`).
    `decode`: "cpu" decodes, resizes and crops with PIL in the worker processes; "cuda" has the workers
    read the bytes and decodes the JPEGs of a batch together on the training device (nvJPEG on a GPU),
    resizing and cropping there; "auto" is "cuda" when training on CUDA. `workers`: decoding processes
    (None: the usable cores shared among the processes of the node). `max_bad_fraction`: unreadable images
    are skipped with a warning, until more than this fraction of the split is; then the run stops.
    `prefetch`: make the next batch in a thread while this one trains ("auto": when training on CUDA).
    """

    samples: list[tuple[str, int]]
    classes: list[str]
    image_size: int
    decode: Decode = "auto"
    workers: int | None = None
    max_bad_fraction: float = 0.01
    prefetch: Prefetch = "auto"

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"data.workers={self.workers} must be >= 0 (0: decode in the training process)")
        if not 0 <= self.max_bad_fraction < 1:
            raise ConfigError(f"data.max_bad_fraction={self.max_bad_fraction} must be in [0, 1)")

    def __len__(self) -> int:
        return len(self.samples)


def resized_size(width: int, height: int, short_side: int, crop: int) -> tuple[int, int]:
    """(width, height) of an image whose shorter side is resized to `short_side` (never below `crop`)."""
    ratio = max(short_side, crop) / min(width, height)
    return max(crop, math.floor(width * ratio + 0.5)), max(crop, math.floor(height * ratio + 0.5))


def crop_origin(size: tuple[int, int], crop: int, where: tuple[float, float] | None) -> tuple[int, int]:
    """(top, left) of a `crop` square in an image of `size` (width, height); `where` places it as
    fractions of the free range (as `augment.draw` gives them), None is the centre."""
    fy, fx = where if where is not None else (0.5, 0.5)
    return min(int(fy * (size[1] - crop + 1)), size[1] - crop), min(int(fx * (size[0] - crop + 1)), size[0] - crop)


def load_crop(source: str | bytes, short_side: int, crop: int, where: tuple[float, float] | None) -> torch.Tensor:
    """Decode an image as RGB, resize its shorter side to `short_side`, and crop a `crop` square at `where`.

    Returns uint8 [3, crop, crop]. Raises `BadImageError` (one line naming the file) for a file that is
    not a readable image: truncated, corrupt, or over resreg's size limit.
    """
    short_side = max(short_side, crop)
    image = open_image(source, "RGB", draft_size=(short_side, short_side))  # JPEG: at a reduced scale if enough
    size = resized_size(*image.size, short_side, crop)
    image = image.resize(size, Image.BILINEAR)  # antialiased when it shrinks
    top, left = crop_origin(size, crop, where)
    pixels = np.asarray(image)[top : top + crop, left : left + crop]  # a read-only view of PIL's buffer
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # one copy, CHW, writable


def eval_short_side(crop: int) -> int:
    """The shorter side that evaluation resizes to before its centre crop (256 for 224)."""
    return math.floor(crop / EVAL_CROP_FRACTION + 0.5)
