"""The image-folder loader keeps its worker processes from one epoch to the next, and that changes no batch:
JPEG files in the ImageNet layout, real worker processes."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch
from PIL import Image
from resreg_plugins.datasets.imagefolder import imagefolder

from resreg.data import AugmentOptions, make_loader

CPU = torch.device("cpu")
AUGMENT = AugmentOptions(scale=(16, 24), hflip=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    """20 train and 6 val JPEGs of varied sizes in two classes."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 10), ("val", 3)):
        for c, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (20 + i, 24 - c, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.jpg", quality=90)
    return imagefolder(root=str(root), image_size=16)


def loader(source, split: str = "train", workers: int = 2):
    return make_loader(
        getattr(source, split), batch_size=4, train=split == "train", augment=AUGMENT, device=CPU, seed=3,
        stats=source, num_workers=workers,
    )  # fmt: skip


def worker_pids() -> set[int]:
    """The live child processes of this process (the DataLoader's workers are its only children here)."""
    return {p.pid for p in multiprocessing.active_children()}


def epoch_with_pids(batches) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], set[int]]:
    out, pids = [], set()
    for batch in batches:
        out.append(batch)
        pids |= worker_pids()  # while the epoch runs, its workers are alive
    return out, pids


def same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    return all(torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(a, b, strict=True))


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_same_worker_processes_serve_every_epoch(source, split: str) -> None:
    before = worker_pids()
    persistent = loader(source, split)
    first, pids_first = epoch_with_pids(persistent.batches(0))
    second, pids_second = epoch_with_pids(persistent.batches(1))
    workers = pids_first - before
    assert len(workers) == 2, f"expected 2 worker processes, saw {workers}"
    assert pids_second - before == workers  # not restarted: the same PIDs
    assert worker_pids() - before == workers  # still there between epochs
    # Keeping the workers changes no batch: the same as decoding in this process, epoch by epoch.
    in_process = loader(source, split, workers=0)
    assert same(first, list(in_process.batches(0))) and same(second, list(in_process.batches(1)))
    assert len(first) == len(persistent) and same(first, second) != (split == "train")  # shuffled
    del persistent
    assert worker_pids() - before == set()  # and they end with the loader


def test_an_epoch_left_midway_does_not_leak_into_the_next(source) -> None:
    persistent = loader(source)
    expected = list(loader(source, workers=0).batches(1))
    for _ in persistent.batches(0):  # stop after one batch: the workers have more of epoch 0 in flight
        break
    assert same(list(persistent.batches(1)), expected)
    assert same(list(persistent.batches(1, start=2)), expected[2:])  # a resume within the epoch


def test_a_later_batches_call_takes_the_workers_over(source) -> None:
    persistent = loader(source)
    earlier = persistent.batches(0)
    next(earlier)
    later = list(persistent.batches(1))
    assert same(later, list(loader(source, workers=0).batches(1)))
    with pytest.raises(RuntimeError, match="later batches"):
        next(earlier)
