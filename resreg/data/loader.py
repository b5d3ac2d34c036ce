"""Batches for training and evaluation, reproducible from (seed, epoch, batch index) alone.

The order of an epoch and the augmentation of each batch are drawn from generators seeded with
(seed, epoch) and (seed, epoch, batch index), for the GLOBAL batch; DDP rank r then takes slice r of
every global batch. Nothing depends on the rank, the world size or where iteration started, so
`batches(e, start=k)` yields exactly batches k.. of `batches(e)` (bitwise resume) and the ranks'
slices put together are the one-process batch (1 process == N processes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from resreg.data.augment import (
    AugmentDraw,
    AugmentOptions,
    apply_color_jitter,
    apply_crop,
    apply_flip,
    apply_lighting,
    apply_scale_crop,
    draw,
)
from resreg.data.folder import FolderSplit, eval_short_side, load_crop
from resreg.data.imageset import ImageSet
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
) -> Loader:
    """A loader over `split`. `batch_size` is the global batch; each rank gets batch_size // world_size.

    train=True shuffles, augments and (by default) drops the last incomplete batch; train=False
    yields every image once, in order, without augmentation. `stats` is the DataSource or its
    `Stats`; `num_workers` is the number of decoding processes for image folders (default: the CPU
    count, at most 8).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be at least 1")
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in a world of {world_size} processes")
    if train and batch_size % world_size:
        raise ConfigError(f"batch_size={batch_size} (the global batch) must divide by the {world_size} processes")
    stats = stats.stats if isinstance(stats, DataSource) else Stats(*stats)
    plan = _Plan(len(split), batch_size, train, train if drop_last is None else drop_last, seed, rank, world_size)
    if isinstance(split, ImageSet):
        return InMemoryLoader(split, plan, augment, device, stats)
    workers = num_workers if num_workers is not None else min(8, os.cpu_count() or 1)
    return FolderLoader(split, plan, augment, device, stats, workers)


class _Plan:
    """Which images make up each global batch, which rows belong to this rank, and the batch seeds."""

    def __init__(
        self, n: int, batch_size: int, train: bool, drop_last: bool, seed: int, rank: int, world_size: int
    ) -> None:
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.rank, self.world_size = rank, world_size
        self.length = n // batch_size if drop_last else -(-n // batch_size)
        if self.length == 0:
            raise ConfigError(f"batch_size={batch_size} is larger than the {n} images of the split (drop_last is on)")

    def order(self, epoch: int) -> torch.Tensor:
        if not self.train:
            return torch.arange(self.n)
        return torch.randperm(self.n, generator=self.generator(0, epoch))

    def batch(self, order: torch.Tensor, index: int) -> tuple[torch.Tensor, int, int]:
        """Global batch `index`'s image indices, and this rank's rows [lo, hi) of it."""
        indices = order[index * self.batch_size : (index + 1) * self.batch_size]
        n = len(indices)
        return indices, self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size

    def generator(self, *parts: int) -> torch.Generator:
        """A CPU generator seeded by hashing (seed, *parts): independent streams, same on every device."""
        entropy = [self.seed % 2**63, *(p % 2**63 for p in parts)]
        state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
        return torch.Generator().manual_seed(int(state))

    def draw(self, augment: AugmentOptions, epoch: int, index: int, n: int, *, crop: bool) -> AugmentDraw:
        return draw(augment, n, self.generator(1, epoch, index), crop=crop)


class _Normalize:
    """uint8 batch on the device -> float32 in 0..1 -> (jitter, lighting) -> normalised."""

    def __init__(self, stats: Stats, augment: AugmentOptions, device: torch.device, in_chans: int) -> None:
        if len(stats.mean) != in_chans or len(stats.std) != in_chans:
            raise ConfigError(f"normalisation statistics have {len(stats.mean)} channels, the images {in_chans}")
        if augment.lighting > 0 and in_chans != 3:
            raise ConfigError(
                f"train.augment.lighting needs RGB images, these have {in_chans} channel(s): train.augment.lighting=0"
            )
        shape = (in_chans, 1, 1)
        use_image = augment.normalize == "pixel" and stats.mean_image is not None
        # Without a mean image (image folders), "pixel" falls back to the channel mean: over random
        # scales and crops the per-pixel mean of ImageNet is the same in every position anyway.
        mean = stats.mean_image if use_image else torch.tensor(stats.mean).view(shape)
        self.mean = mean.to(device, torch.float32)
        self.std = torch.tensor(stats.std).view(shape).to(device, torch.float32)

    def __call__(self, images: torch.Tensor, d: AugmentDraw | None) -> torch.Tensor:
        x = images.float().div_(255)
        if d is not None and d.jitter is not None:
            x = apply_color_jitter(x, d.jitter)
        if d is not None and d.lighting is not None:
            x = apply_lighting(x, d.lighting)
        return (x - self.mean) / self.std


class InMemoryLoader:
    """Batches of an ImageSet, augmented on the device by whole-batch tensor operations.

    On a GPU the whole uint8 set is moved there once (CIFAR-10: 150 MB), so a batch never crosses PCIe.
    Augmented images are normalised before the pad-crop, so padding is zero after normalisation:
    the mean, as in the ResNet paper's per-pixel-mean recipe.
    """

    def __init__(self, split: ImageSet, plan: _Plan, augment: AugmentOptions, device: torch.device, stats: Stats):
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
        self.normalize = _Normalize(stats, augment, device, c)

    def __len__(self) -> int:
        return self.plan.length

    @property
    def num_images(self) -> int:
        return min(self.plan.n, self.plan.length * self.plan.batch_size)

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


#: what a worker decodes: (sample index, shorter side to resize to, crop position or None for the centre)
_Task = tuple[int, int, tuple[float, float] | None]


class _Decode(Dataset):
    """Decodes one task (sample index, shorter side, crop position or None) into (uint8 image, label)."""

    def __init__(self, split: FolderSplit, crop: int) -> None:
        self.samples, self.crop = split.samples, crop

    def __getitem__(self, task: _Task) -> tuple[torch.Tensor, int]:
        index, short_side, where = task
        path, label = self.samples[index]
        return load_crop(path, short_side, self.crop, where), label

    def collate(self, items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack a batch; a rank's share of a short last batch may be empty, and is still a batch."""
        if not items:
            return torch.empty(0, 3, self.crop, self.crop, dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
        images, labels = zip(*items, strict=True)
        return torch.stack(images), torch.tensor(labels)


class FolderLoader:
    """Batches of an image folder: decoded, resized and cropped by worker processes (PIL), then
    flipped, jittered and normalised on the device. The workers get their random draws from the
    main process, so the result does not depend on how many workers there are. The worker processes
    start once, at the first batch, and serve every epoch after it (persistent workers): starting
    them again each epoch would cost seconds per epoch on a small data set.

    One epoch at a time: a `batches` call ends the iteration of an earlier one (which then raises).
    """

    def __init__(
        self, split: FolderSplit, plan: _Plan, augment: AugmentOptions, device: torch.device, stats: Stats, workers: int
    ):
        self.crop = augment.crop_size or split.image_size
        self.decoder = _Decode(split, self.crop)
        self.plan, self.augment, self.device, self.workers = plan, augment, device, workers
        self.normalize = _Normalize(stats, augment, device, 3)
        # The sampler holds the loader's plan, not the loader: no reference cycle keeps the workers alive.
        self.sampler = _FolderTasks(plan, augment, self.crop)
        self.loader = DataLoader(
            self.decoder,
            batch_sampler=self.sampler,
            num_workers=workers,
            collate_fn=self.decoder.collate,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
        )
        self._current: object = None

    def __len__(self) -> int:
        return self.plan.length

    @property
    def num_images(self) -> int:
        return min(self.plan.n, self.plan.length * self.plan.batch_size)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.plan.order(epoch)
        indices = range(start, len(self))
        self.sampler.epoch = (order, epoch, indices)
        self._current = current = object()
        decoded = iter(self.loader)  # with persistent workers: the same workers, told to start this epoch
        for index in indices:
            if self._current is not current:  # checked before taking a batch that the later call is owed
                raise RuntimeError("FolderLoader.batches: a later batches() call took over the worker processes")
            images, labels = next(decoded)
            d = self.sampler.draw(order, epoch, index)
            x = self.normalize(images.to(self.device, non_blocking=True), d)
            if d is not None and d.flips is not None:
                x = apply_flip(x, d.flips)
            yield x, labels.to(self.device, non_blocking=True)


class _FolderTasks:
    """The batch sampler of a FolderLoader's DataLoader: what the workers decode for each batch of the
    epoch that `batches` asked for last (and the augmentation drawn for it). It runs in the main process."""

    def __init__(self, plan: _Plan, augment: AugmentOptions, crop: int) -> None:
        self.plan, self.augment, self.crop = plan, augment, crop
        self.epoch: tuple[torch.Tensor, int, range] = (torch.empty(0), 0, range(0))  # order, epoch, batch indices

    def __iter__(self) -> Iterator[list[_Task]]:
        order, epoch, indices = self.epoch
        return (self.tasks(order, epoch, index) for index in indices)

    def draw(self, order: torch.Tensor, epoch: int, index: int) -> AugmentDraw | None:
        if not self.plan.train:
            return None
        indices, lo, hi = self.plan.batch(order, index)
        return self.plan.draw(self.augment, epoch, index, len(indices), crop=True).rows(lo, hi)

    def tasks(self, order: torch.Tensor, epoch: int, index: int) -> list[_Task]:
        indices, lo, hi = self.plan.batch(order, index)
        mine = indices[lo:hi].tolist()
        d = self.draw(order, epoch, index)
        if d is None:
            return [(i, eval_short_side(self.crop), None) for i in mine]
        short = d.short_sides.tolist() if d.short_sides is not None else [eval_short_side(self.crop)] * len(mine)
        return [(i, s, (float(w[0]), float(w[1]))) for i, s, w in zip(mine, short, d.where.tolist(), strict=True)]
