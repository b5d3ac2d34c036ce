"""A small image data set held in memory as one uint8 tensor (MNIST, CIFAR, synthetic)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageSet:
    """Images and labels of one split, in memory.

    `images` is uint8 [N, C, H, W] on the CPU (one tensor, so a batch is one index operation and
    the whole set can move to the GPU at once); `labels` is int64 [N]; `classes` names label i.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]

    def head(self, n: int) -> ImageSet:
        """The first `n` images (views, no copy)."""
        return ImageSet(self.images[:n], self.labels[:n], self.classes)

    def tail(self, n: int) -> ImageSet:
        """The last `n` images (views, no copy)."""
        return ImageSet(self.images[len(self) - n :], self.labels[len(self) - n :], self.classes)
