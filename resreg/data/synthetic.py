"""The `synthetic` data set: random images in memory, for benchmarks and tests without files."""

from __future__ import annotations

import dataclasses

import torch

from resreg.data.imageset import ImageSet
from resreg.data.source import DataSource, in_memory_source


def synthetic(
    *, num_images: int = 1024, image_size: int = 32, in_chans: int = 3, num_classes: int = 10, seed: int = 0
) -> DataSource:
    """Random uint8 images with random labels, and a val and a test split each a quarter the size.

    Any config runs on it (`resreg train CONFIG data.type=synthetic`): a way to try the pipeline without data.

    Args:
        num_images: number of train images.
        image_size: side of the square images.
        in_chans: channels per image.
        num_classes: number of classes (labels are uniform in [0, num_classes)).
        seed: seed of the generator, so the same arguments give the same images.
    """
    generator = torch.Generator().manual_seed(seed)
    classes = [str(i) for i in range(num_classes)]

    def make(n: int) -> ImageSet:
        images = torch.randint(0, 256, (n, in_chans, image_size, image_size), dtype=torch.uint8, generator=generator)
        return ImageSet(images, torch.randint(0, num_classes, (n,), generator=generator), classes)

    train, test = make(num_images), make(max(1, num_images // 4))
    val = make(max(1, num_images // 4))  # drawn after test, so train and test stay what they always were
    return dataclasses.replace(in_memory_source("synthetic", train, test, val_split=0, limit=None), val=val)
