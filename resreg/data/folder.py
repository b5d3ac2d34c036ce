"""A split of image files decoded on the fly with PIL (the ImageNet layout's splits; a plugin lists the files)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from resreg.errors import DataError

#: what counts as an image (torchvision's ImageFolder list).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: evaluation resizes the shorter side to crop / 0.875 (256 for a 224 crop) and takes the centre.
EVAL_CROP_FRACTION = 0.875


@dataclass
class FolderSplit:
    """One split of image files, decoded as the loader needs them: (path, label) pairs, the name of each
    label, and the side in pixels of the square crop fed to the model.

    Any format that is a list of image files fits (the `imagefolder` plugin lists `<split>/<class>/<image>`);
    the loader resizes, crops, augments and normalises (ImageNet-style) in its worker processes.
    """

    samples: list[tuple[str, int]]
    classes: list[str]
    image_size: int

    def __len__(self) -> int:
        return len(self.samples)


def load_crop(path: str, short_side: int, crop: int, where: tuple[float, float] | None) -> torch.Tensor:
    """Decode an image as RGB, resize its shorter side to `short_side`, and crop a `crop` square.

    `where` places the crop (fractions of the free range, as `augment.draw` gives them); None is the
    centre. Returns uint8 [3, crop, crop].
    """
    short_side = max(short_side, crop)
    try:
        with Image.open(path) as image:
            image.draft("RGB", (short_side, short_side))  # JPEG: decode at a reduced scale when it is enough
            image = image.convert("RGB")
            w, h = image.size
            ratio = short_side / min(w, h)
            size = (max(crop, math.floor(w * ratio + 0.5)), max(crop, math.floor(h * ratio + 0.5)))
            image = image.resize(size, Image.BILINEAR)
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    fy, fx = where if where is not None else (0.5, 0.5)
    top = min(int(fy * (size[1] - crop + 1)), size[1] - crop)
    left = min(int(fx * (size[0] - crop + 1)), size[0] - crop)
    pixels = np.asarray(image)[top : top + crop, left : left + crop]  # a read-only view of PIL's buffer
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))  # one copy, CHW, writable


def eval_short_side(crop: int) -> int:
    """The shorter side that evaluation resizes to before its centre crop (256 for 224)."""
    return math.floor(crop / EVAL_CROP_FRACTION + 0.5)
