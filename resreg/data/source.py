"""What a data set factory returns: its splits and what a model and a loader need to know about them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch

from resreg.data.folder import FolderSplit
from resreg.data.imageset import ImageSet
from resreg.errors import DataError

#: one split: in memory (small images) or a folder of files decoded on the fly (ImageNet layout).
Split = ImageSet | FolderSplit


class Stats(NamedTuple):
    """Normalisation statistics of a train split, on the 0..1 scale.

    `mean_image` ([C, H, W], for per-pixel mean subtraction) is None where it cannot be computed
    (image folders, whose images differ in size).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    mean_image: torch.Tensor | None = None


@dataclass
class DataSource:
    """A data set: its splits and their shape.

    `image_size` is (H, W) of the train images (for image folders: the crop size); `mean` and
    `std` are per channel on the 0..1 scale, computed from the train split for in-memory sets.
    """

    name: str
    train: Split
    val: Split | None
    test: Split | None
    num_classes: int
    in_chans: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def classes(self) -> list[str]:
        """The name of each label: Fashion-MNIST's kinds of clothing, CIFAR's classes, an image folder's folders."""
        return list(self.train.classes)

    @functools.cached_property
    def stats(self) -> Stats:
        """Mean, std and (in-memory sets) the per-pixel mean image of the train split."""
        mean_image = pixel_mean(self.train.images) if isinstance(self.train, ImageSet) else None
        return Stats(self.mean, self.std, mean_image)


def in_memory_source(
    name: str, train: ImageSet, test: ImageSet | None, *, val_split: int, limit: int | None
) -> DataSource:
    """A DataSource over in-memory splits: split the last `val_split` train images off as val, keep
    the first `limit` of the rest, and compute the channel statistics of what remains for training."""
    if not 0 <= val_split < len(train):
        raise DataError(
            f"{name}: val_split={val_split} must be in [0, {len(train)}) (the train split has {len(train)} images)"
        )
    if limit is not None and limit < 1:
        raise DataError(f"{name}: limit={limit} must be a positive number of train images, or null for all")
    val = train.tail(val_split) if val_split else None
    train = train.head(len(train) - val_split)
    if limit is not None:
        train = train.head(min(limit, len(train)))
    mean, std = channel_stats(train.images)
    _, c, h, w = train.images.shape
    return DataSource(name, train, val, test, len(train.classes), c, (h, w), mean, std)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std (0..1 scale) of uint8 images [N, C, H, W].

    A 256-bin histogram per channel gives both moments without a float copy of the whole set
    (Fashion-MNIST's train split as float32 would be 190 MB).
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).double()
        p = counts / counts.sum()
        mean = float((p * values).sum())
        means.append(mean)
        stds.append(max(float((p * (values - mean) ** 2).sum()) ** 0.5, 1e-6))  # a constant image has std 0
    return tuple(means), tuple(stds)


def pixel_mean(images: torch.Tensor) -> torch.Tensor:
    """The mean image [C, H, W] (float32, 0..1 scale) of uint8 images [N, C, H, W]."""
    return (images.sum(0, dtype=torch.float64) / (255 * max(len(images), 1))).float()
