"""What a run's model records about its input: how the evaluator prepares images, and the class names.

`resreg.artifact.Preprocessing` is the record (saved with the weights, read by `predict` and
timm-style tools); this is where a run makes it from its data set and its augmentation options.
"""

from __future__ import annotations

from typing import Any

import torch

from resreg.artifact import Preprocessing
from resreg.data.augment import crop_offsets
from resreg.data.folder import EVAL_CROP_FRACTION


def of_training_data(data: Any, augment: Any) -> Preprocessing:
    """What the evaluator of a run feeds the model: from the run's DataSource and its AugmentOptions."""
    c, (h, w) = data.in_chans, data.image_size
    crop = augment.crop_size or None
    in_memory = getattr(data.train, "images", None) is not None
    if in_memory and augment.scale is None:  # evaluation centre-crops crop_size out of the h x w images
        size, crop_pct = (crop or h, crop or w), (crop / min(h, w) if crop else 1.0)
    else:  # image folders (and train.scale in memory): shorter side to crop / 0.875, centre crop (data.folder)
        size, crop_pct = (crop or h, crop or w), EVAL_CROP_FRACTION
    mean_image = None
    stats = data.stats if in_memory and augment.normalize == "pixel" else None
    if stats is not None and stats.mean_image is not None:
        mean_image = _centre_crop(stats.mean_image, size)
    labels = data.classes
    return Preprocessing((c, *size), tuple(data.mean), tuple(data.std), "bilinear", crop_pct, "center", labels,
                         mean_image)  # fmt: skip


def _centre_crop(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centre `size` of a [C, H, W] image, placed as the eval loader's centre crop places it."""
    h, w = image.shape[-2:]
    top, left = crop_offsets(torch.tensor([0.5, 0.5]), (h - size[0], w - size[1])).tolist()
    return image[:, top : top + size[0], left : left + size[1]].contiguous()
