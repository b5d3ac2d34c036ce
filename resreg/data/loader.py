"""Batches for training and evaluation, reproducible from (seed, epoch, batch index) alone (`plan`):
in-memory sets here, image folders in `folder_loader`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch

from resreg.data.augment import AugmentOptions, apply_crop, apply_flip, apply_scale_crop
from resreg.data.folder import Decode, Prefetch, eval_short_side
from resreg.data.folder_loader import FolderLoader, LoaderSetting, decoding_workers, resolve_decode, resolve_prefetch
from resreg.data.imageset import ImageSet
from resreg.data.normalize import Normalize
from resreg.data.plan import BatchPlan
from resreg.data.source import DataSource, Split, Stats
from resreg.errors import ConfigError


class Loader(Protocol):
    """What the engine iterates: float32 normalised images [B, C, H, W] and int64 labels, on the device.

    Every rank gets the same number of batches. Where a short last batch (evaluation) has fewer images
    than there are ranks, some ranks' share is empty (B = 0): sum losses and counts, don't average them.
    """

    def __len__(self) -> int:
        """Batches per epoch."""

    @property
    def num_images(self) -> int:
        """Images per epoch, all ranks together."""

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's slice of global batches start.. of `epoch`."""

    @property
    def settings(self) -> dict[str, LoaderSetting]:
        """What the loader chose for this run and why (decoding, workers, prefetch), for the run's banner."""


def make_loader(
    split: Split,
    *,
    batch_size: int,
    train: bool,
    augment: AugmentOptions,
    device: torch.device,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    stats: Stats | tuple | DataSource,
    drop_last: bool | None = None,
    num_workers: int | None = None,
    processes_on_node: int = 1,
    decode: Decode | None = None,
    prefetch: Prefetch | None = None,
) -> Loader:
    """A loader over `split`. `batch_size` is the global batch; each rank gets batch_size // world_size.

    train=True shuffles, augments and (by default) drops the last incomplete batch; train=False
    yields every image once, in order, without augmentation. `stats` is the DataSource or its
    `Stats`. For image folders, `num_workers`, `decode` and `prefetch` override the split's `workers`,
    `decode` and `prefetch`; by default the usable cores are shared among the `processes_on_node` (torchrun's
    local world size).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1")
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in a world of {world_size} processes")
    if train and batch_size % world_size:
        raise ConfigError(f"batch_size={batch_size} (the global batch) must divide by the {world_size} processes")
    stats = stats.stats if isinstance(stats, DataSource) else Stats(*stats)
    plan = BatchPlan(len(split), batch_size, train, train if drop_last is None else drop_last, seed, rank, world_size)
    if isinstance(split, ImageSet):
        return InMemoryLoader(split, plan, augment, device, stats)
    workers = decoding_workers(split.workers if num_workers is None else num_workers, processes_on_node)
    ahead = resolve_prefetch(split.prefetch if prefetch is None else prefetch, device)
    return FolderLoader(
        split, plan, augment, device, stats, workers, resolve_decode(decode or split.decode, device), ahead
    )


class InMemoryLoader:
    """Batches of an ImageSet, augmented on the device by whole-batch tensor operations.

    On a GPU the whole uint8 set is moved there once (CIFAR-10: 150 MB), so a batch never crosses PCIe.
    Augmented images are normalised before the pad-crop, so padding is zero after normalisation:
    the mean, as in the ResNet paper's per-pixel-mean recipe.
    """

    def __init__(self, split: ImageSet, plan: BatchPlan, augment: AugmentOptions, device: torch.device, stats: Stats):
        _, c, h, w = split.images.shape
        if stats.mean_image is not None and augment.normalize == "pixel" and stats.mean_image.shape != (c, h, w):
            raise ConfigError(f"the mean image is {tuple(stats.mean_image.shape)}, the images {(c, h, w)}")
        # train.augment.scale: resized and cropped as image folders are (apply_scale_crop), to crop_size or image size
        self.scale = augment.scale is not None
        if self.scale and augment.crop_padding:
            raise ConfigError(
                "train.augment.scale and train.augment.crop_padding are two ways to crop: set one (crop_padding=0)"
            )
        self.size = (augment.crop_size, augment.crop_size) if augment.crop_size else (h, w)
        if self.scale:
            self.size = (self.size[0], self.size[0]) if augment.crop_size else (min(h, w), min(h, w))
        elif self.size[0] > h + 2 * augment.crop_padding or self.size[1] > w + 2 * augment.crop_padding:
            raise ConfigError(
                f"train.augment.crop_size={augment.crop_size} exceeds the {h}x{w} images and their padding "
                f"(train.augment.crop_padding={augment.crop_padding}); set train.augment.scale=[a, b] to resize first"
            )
        self.crops = self.scale or augment.crop_padding > 0 or self.size != (h, w)
        self.images, self.labels = split.images.to(device), split.labels.to(device)
        self.plan, self.augment, self.device = plan, augment, device
        self.normalize = Normalize(stats, augment, device, c)

    def __len__(self) -> int:
        return self.plan.length

    @property
    def num_images(self) -> int:
        return self.plan.num_images

    @property
    def settings(self) -> dict[str, LoaderSetting]:
        return {}

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.plan.order(epoch).to(self.images.device)
        for index in range(start, len(self)):
            indices, lo, hi = self.plan.batch(order, index)
            mine = indices[lo:hi]
            images = self.images[mine].to(self.device, non_blocking=True)
            labels = self.labels[mine].to(self.device, non_blocking=True)
            if not self.plan.train:  # evaluation: no augmentation, a centre crop if one is asked for
                x = self.normalize(images, None)
                centre = torch.full((len(x), 2), 0.5)
                if self.scale:  # as image folders: the shorter side at crop / 0.875, the centre crop
                    short = torch.full((len(x),), eval_short_side(self.size[0]))
                    yield apply_scale_crop(x, short, centre, self.size[0]), labels
                else:
                    yield (apply_crop(x, centre, self.size) if self.crops else x), labels
                continue
            d = self.plan.draw(self.augment, epoch, index, len(indices), crop=self.crops).rows(lo, hi)
            x = self.normalize(images, d)
            if d.short_sides is not None:
                x = apply_scale_crop(x, d.short_sides, d.where, self.size[0])
            elif d.where is not None:
                x = apply_crop(x, d.where, self.size, self.augment.crop_padding)
            if d.flips is not None:
                x = apply_flip(x, d.flips)
            yield x, labels
