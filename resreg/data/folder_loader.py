"""Batches of an image folder: the files read by worker processes, the batches finished on the device."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import fields
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset

from resreg.data.augment import AugmentDraw, AugmentOptions, apply_flip
from resreg.data.bad_images import BadImages
from resreg.data.device_jpeg import decode_crops, jpeg_decoding_fails, read_for_device
from resreg.data.folder import Decode, FolderSplit, Prefetch, eval_short_side, load_crop
from resreg.data.image_file import BadImageError
from resreg.data.normalize import Normalize
from resreg.data.plan import BatchPlan
from resreg.data.prefetch import Prefetcher
from resreg.data.source import Stats
from resreg.errors import ConfigError
from resreg.machine import usable_cores


class LoaderSetting(NamedTuple):
    """A loader setting as resolved for this run, and why (`resreg train` prints it)."""

    value: Any
    reason: str


def decoding_workers(workers: int | None, processes_on_node: int = 1) -> LoaderSetting:
    """None -> the cores this process may use (its affinity mask) shared among the node's processes."""
    if workers is not None:
        return LoaderSetting(workers, "set by data.workers")
    cores = usable_cores()
    sharing = f" / {processes_on_node} processes" if processes_on_node > 1 else ""
    return LoaderSetting(max(1, cores // max(1, processes_on_node)), f"auto: {cores} usable core(s){sharing}")


def resolve_decode(decode: Decode, device: torch.device) -> LoaderSetting:
    """auto -> "cuda" (JPEGs decoded in batches on the GPU) when training on CUDA and torchvision decodes
    JPEGs there, else "cpu" (PIL in the workers). "cuda" on another device runs the same batched decoding
    there (torchvision on the CPU: what CI tests); where torchvision cannot, it is one line.
    """
    if decode not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"data.decode={decode!r}: valid: auto, cpu, cuda")
    if decode == "cpu" or (decode == "auto" and device.type != "cuda"):
        return LoaderSetting("cpu", f"auto: training on {device.type}" if decode == "auto" else "set by data.decode")
    failure = jpeg_decoding_fails(device)  # once, here: not every batch going to PIL after a failed batch call
    if failure and decode == "auto":
        return LoaderSetting("cpu", f"auto: torchvision cannot decode JPEGs on {device.type} here ({failure})")
    if failure:
        raise ConfigError(
            f"data.decode=cuda: torchvision cannot decode JPEGs on {device.type} here ({failure}): data.decode=cpu"
        )
    if decode == "auto":
        return LoaderSetting("cuda", "auto: training on cuda")
    elsewhere = f"; torchvision decodes the JPEGs on {device.type}" if device.type != "cuda" else ""
    return LoaderSetting("cuda", f"set by data.decode{elsewhere}")


def resolve_prefetch(prefetch: Prefetch, device: torch.device) -> LoaderSetting:
    """auto -> on when training on CUDA: the next batch is made, on a side stream, while this one trains.
    Off elsewhere by default (on the CPU the thread would take cores from the step); true runs it anywhere.
    """
    if prefetch != "auto" and not isinstance(prefetch, bool):
        raise ConfigError(f"data.prefetch={prefetch!r}: valid: auto, true, false")
    if prefetch == "auto":
        return LoaderSetting(device.type == "cuda", f"auto: training on {device.type}")
    return LoaderSetting(prefetch, "set by data.prefetch")


#: what a worker reads: (sample index, shorter side to resize to, crop position or None for the centre)
_Task = tuple[int, int, tuple[float, float] | None]


class _Read(NamedTuple):
    """What the workers made of one batch's tasks, in batch positions."""

    crops: torch.Tensor  # uint8 [k, 3, crop, crop]: the images decoded, resized and cropped by PIL
    crop_rows: list[int]  # their positions in the batch
    encoded: list[torch.Tensor]  # JPEG files' bytes, for the device to decode
    encoded_rows: list[int]
    labels: torch.Tensor  # int64, of every position
    errors: dict[int, str]  # position -> why its image could not be read


class _Reader(Dataset):
    """Reads one task in a worker: PIL's crop (data.decode=cpu), or the JPEG's bytes (data.decode=cuda)."""

    def __init__(self, split: FolderSplit, crop: int, on_device: bool) -> None:
        self.samples, self.crop, self.on_device = split.samples, crop, on_device

    def __getitem__(self, task: _Task) -> tuple[torch.Tensor | str, bool, int]:
        """(image, whether it is still encoded, label); a bad image is its one-line error instead."""
        index, short_side, where = task
        path, label = self.samples[index]
        try:
            if self.on_device:
                return (*read_for_device(path, short_side, self.crop, where), label)
            return load_crop(path, short_side, self.crop, where), False, label
        except BadImageError as exc:
            return str(exc), False, label

    def collate(self, items: list[tuple[torch.Tensor | str, bool, int]]) -> _Read:
        """Stack the crops (one tensor crosses to the main process); a rank's share may be empty."""
        crop_rows = [i for i, (image, encoded, _) in enumerate(items) if not encoded and not isinstance(image, str)]
        encoded_rows = [i for i, (_, encoded, _) in enumerate(items) if encoded]
        crops = [items[i][0] for i in crop_rows]
        return _Read(
            torch.stack(crops) if crops else torch.empty(0, 3, self.crop, self.crop, dtype=torch.uint8),
            crop_rows,
            [items[i][0] for i in encoded_rows],
            encoded_rows,
            torch.tensor([label for *_, label in items], dtype=torch.int64),
            {i: image for i, (image, _, _) in enumerate(items) if isinstance(image, str)},
        )


class FolderLoader:
    """Batches of an image folder. Worker processes decode, resize and crop each image with PIL
    (`decode` "cpu"), or read the files and leave the JPEGs for the device to decode as a batch
    (`decode` "cuda", `device_jpeg`). Flips, jitter and normalisation happen on the device. The workers
    get their random draws from the main process, so the result does not depend on how many workers
    there are. They start once, at the first batch, and serve every epoch after it (persistent workers):
    starting them again each epoch would cost seconds per epoch on a small data set.

    With `prefetch` on, each batch is made one batch ahead in a thread (`prefetch.Prefetcher`).
    An unreadable image is left out of its batch, with a warning naming it (`bad_images`).
    One epoch at a time: a `batches` call ends the iteration of an earlier one (which then raises).
    """

    def __init__(
        self,
        split: FolderSplit,
        plan: BatchPlan,
        augment: AugmentOptions,
        device: torch.device,
        stats: Stats,
        workers: LoaderSetting,
        decode: LoaderSetting,
        prefetch: LoaderSetting,
    ) -> None:
        self.crop = augment.crop_size or split.image_size
        self.reader = _Reader(split, self.crop, on_device=decode.value == "cuda")
        self.plan, self.augment, self.device = plan, augment, device
        self.settings = {"decode": decode, "data workers": workers, "prefetch": prefetch}
        self.normalize = Normalize(stats, augment, device, 3)
        self.bad = BadImages(len(split), split.max_bad_fraction, plan.world_size)
        # The sampler holds the loader's plan, not the loader: no reference cycle keeps the workers alive.
        self.sampler = _FolderTasks(plan, augment, self.crop)
        self.loader = DataLoader(
            self.reader,
            batch_sampler=self.sampler,
            num_workers=workers.value,
            collate_fn=self.reader.collate,
            pin_memory=device.type == "cuda",
            persistent_workers=workers.value > 0,
        )
        self._reading: Generator | Prefetcher | None = None  # the batches of the epoch taking from the workers

    def __len__(self) -> int:
        return self.plan.length

    @property
    def num_images(self) -> int:
        return self.plan.num_images

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._reading is not None:  # an earlier epoch's: it stops (its thread ends) before this one starts
            self._reading.close()
        made = self._made(epoch, start)
        self._reading = reading = Prefetcher(made, self.device) if self.settings["prefetch"].value else made
        try:
            for batch in reading:
                yield batch
                if self._reading is not reading:  # checked before taking a batch that the later call is owed
                    raise RuntimeError("FolderLoader.batches: a later batches() call took over the worker processes")
        finally:
            reading.close()  # also when the caller stops early (total_steps reached, a signal): the thread ends
            if self._reading is reading:
                self._reading = None  # the loader holds no batches of an epoch that is over

    def _made(self, epoch: int, start: int) -> Generator[tuple[torch.Tensor, torch.Tensor], None, None]:
        """Batches start.. of `epoch`, made in the thread that asks for them."""
        order = self.plan.order(epoch)
        indices = range(start, len(self))
        self.sampler.epoch = (order, epoch, indices)
        read = iter(self.loader)  # with persistent workers: the same workers, told to start this epoch
        for index in indices:
            batch = next(read)
            d = self.sampler.draw(order, epoch, index)
            images, kept = self._images(batch, self.sampler.tasks(order, epoch, index) if batch.encoded else [])
            labels = batch.labels if kept is None else batch.labels[kept]
            if d is not None and kept is not None:
                d = AugmentDraw(**{f.name: _take(getattr(d, f.name), kept) for f in fields(d)})
            x = self.normalize(images, d)
            if d is not None and d.flips is not None:
                x = apply_flip(x, d.flips)
            yield x, labels.to(self.device, non_blocking=True)

    def _images(self, batch: _Read, tasks: list[_Task]) -> tuple[torch.Tensor, list[int] | None]:
        """The batch's uint8 images on the device, and the positions kept (None: all of them)."""
        crops = batch.crops.to(self.device, non_blocking=True)
        errors = dict(batch.errors)
        if not batch.encoded and not errors:
            return crops, None
        n = len(batch.labels)
        images = torch.empty(n, 3, self.crop, self.crop, dtype=torch.uint8, device=self.device)
        images[batch.crop_rows] = crops
        if batch.encoded:
            names = [(self.reader.samples[tasks[i][0]][0], *tasks[i][1:]) for i in batch.encoded_rows]
            decoded = decode_crops(batch.encoded, names, self.crop, self.device)
            for row, image in zip(batch.encoded_rows, decoded, strict=True):
                if isinstance(image, str):
                    errors[row] = image
                else:
                    images[row] = image
        if not errors:
            return images, None
        self.bad.skip(list(errors.values()))
        kept = [i for i in range(n) if i not in errors]
        return images[kept], kept


class _FolderTasks:
    """The batch sampler of a FolderLoader's DataLoader: what the workers read for each batch of the
    epoch that `batches` asked for last (and the augmentation drawn for it). It runs in the main process."""

    def __init__(self, plan: BatchPlan, augment: AugmentOptions, crop: int) -> None:
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


def _take(t: torch.Tensor | None, rows: list[int]) -> torch.Tensor | None:
    return None if t is None else t[rows]
