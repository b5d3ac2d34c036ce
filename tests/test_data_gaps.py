"""Loader behaviour that mutation testing left unpinned (docs/testing.md, "Gaps found and left open"): RandAugment,
colour jitter and lighting reaching the batches, an image folder trained without `scale`, a bad image's draws
leaving with it, the data workers a folder gets by default and one worker kept over epochs, no prefetch thread on
the CPU unless asked, and an epoch another `batches()` call took over (its one-line error; the later epoch goes on).
Batches are checked against the images made by hand (PIL files read by `load_crop`, the draws of the loader's
plan); tiny sizes, and no worker processes unless they are the point."""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from resreg_plugins.datasets.imagefolder import imagefolder

from resreg.data import AugmentOptions, ImageSet, Stats, make_loader
from resreg.data.augment import apply_color_jitter, apply_lighting, apply_rand_augment
from resreg.data.folder import eval_short_side, load_crop
from resreg.data.folder_loader import LoaderSetting

CPU = torch.device("cpu")
MEAN, STD = (0.5, 0.25, 0.75), (0.2, 0.4, 0.1)
CROP = 16  # the folder's image_size; without `scale` training resizes the shorter side to eval_short_side(16) = 18


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def in_memory(n: int = 4, size: int = 12) -> ImageSet:
    pixels = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return ImageSet(pixels, torch.arange(n), [str(i) for i in range(n)])


def one_training_batch(split, augment: AugmentOptions, *, crop: bool, **kwargs: object):
    """The one training batch of the whole split (epoch 0): images, labels, the split's indices of its rows and
    the draws of its plan. `crop`: whether the loader crops at a drawn position (a folder always does)."""
    loader = make_loader(
        split, batch_size=len(split), train=True, augment=augment, device=CPU, seed=5, stats=Stats(MEAN, STD),
        **kwargs,
    )  # fmt: skip
    [(x, labels)] = list(loader.batches(0))
    plan = loader.plan
    order = plan.order(0)
    indices, lo, hi = plan.batch(order, 0)
    return x, labels, indices[lo:hi].tolist(), plan.draw(augment, 0, 0, len(indices), crop=crop).rows(lo, hi)


def test_rand_augment_is_timms_policy_on_each_image_from_its_own_seed():
    split, policy = in_memory(), "rand-m9-n3-mstd0.5"
    x, labels, mine, d = one_training_batch(split, AugmentOptions(rand_augment=policy), crop=False)
    expected = apply_rand_augment(split.images[mine], d.rand_seeds, policy).float() / 255
    assert torch.allclose(x, normalised(expected), atol=1e-6) and labels.tolist() == mine
    assert not torch.allclose(x, normalised(split.images[mine].float() / 255), atol=0.1)  # it changed the images


def test_colour_jitter_and_lighting_drawn_for_a_batch_are_applied_to_it():
    split = in_memory()
    x, _, mine, d = one_training_batch(split, AugmentOptions(color_jitter=0.4, lighting=0.1), crop=False)
    expected = apply_lighting(apply_color_jitter(split.images[mine].float() / 255, d.jitter), d.lighting)
    assert torch.allclose(x, normalised(expected), atol=1e-5)


def write_folder(root, sizes: list[tuple[int, int]], bad: str | None = None) -> None:
    """PNGs of the given (width, height) in two class folders of root/train; `bad`: a file there that is no image."""
    rng = np.random.default_rng(0)
    for i, (width, height) in enumerate(sizes):
        folder = root / "train" / ("cat", "dog")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    if bad is not None:
        (root / "train" / "cat" / bad).write_bytes(b"not an image at all")


@pytest.mark.parametrize("bad", [None, "broken.png"])
def test_folder_training_without_scale_crops_each_image_at_its_draw_and_a_bad_one_leaves_with_its_draws(tmp_path, bad):
    write_folder(tmp_path, [(20, 24), (24, 19), (30, 22), (19, 19)], bad)
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=CROP, max_bad_fraction=0.25)
    augment = AugmentOptions(hflip=True, color_jitter=0.4, lighting=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, labels, mine, d = one_training_batch(source.train, augment, crop=True, num_workers=0, decode="cpu")
    assert [bad in str(w.message) for w in caught] == ([True] if bad else [])
    samples = source.train.samples
    kept = [row for row, i in enumerate(mine) if not samples[i][0].endswith("broken.png")]
    assert len(kept) == 4 and len(mine) == len(samples)
    short = eval_short_side(CROP)
    crops = torch.stack([load_crop(samples[mine[r]][0], short, CROP, tuple(d.where[r].tolist())) for r in kept])
    expected = normalised(apply_lighting(apply_color_jitter(crops.float() / 255, d.jitter[kept]), d.lighting[kept]))
    expected = torch.where(d.flips[kept].view(-1, 1, 1, 1), expected.flip(3), expected)
    assert torch.allclose(x, expected, atol=1e-5)
    assert labels.tolist() == [samples[mine[r]][1] for r in kept]


def test_a_folder_decodes_with_the_workers_its_data_section_says_or_the_usable_cores(tmp_path):
    write_folder(tmp_path, [(20, 20), (20, 20)])
    cores = len(os.sched_getaffinity(0))
    auto = LoaderSetting(cores, f"auto: {cores} usable core(s)")  # all of them: one process on the node
    for workers, expected in ((None, auto), (0, LoaderSetting(0, "set by data.workers"))):
        source = imagefolder(root=str(tmp_path), val_dir="", image_size=CROP, workers=workers)
        loader = make_loader(source.train, batch_size=2, train=False, augment=AugmentOptions(), device=CPU, seed=0,
                             stats=source)  # fmt: skip
        assert loader.settings["data workers"] == expected


def test_one_worker_process_serves_every_epoch(tmp_path):
    write_folder(tmp_path, [(20, 20)] * 4)
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=CROP)
    before = {p.pid for p in multiprocessing.active_children()}
    loader = make_loader(source.train, batch_size=2, train=True, augment=AugmentOptions(), device=CPU, seed=0,
                         stats=source, num_workers=1, decode="cpu")  # fmt: skip
    pids = []
    for epoch in range(2):
        assert len(list(loader.batches(epoch))) == 2
        pids.append({p.pid for p in multiprocessing.active_children()} - before)  # alive after the epoch ended
    assert len(pids[0]) == 1 and pids[1] == pids[0]


def folder_loader(root, **kwargs: object):
    write_folder(root, [(20, 20)] * 4)
    source = imagefolder(root=str(root), val_dir="", image_size=CROP)
    return make_loader(source.train, batch_size=2, train=True, augment=AugmentOptions(), device=CPU, seed=0,
                       stats=source, num_workers=0, decode="cpu", **kwargs)  # fmt: skip


def test_on_the_cpu_batches_are_made_without_a_prefetch_thread_unless_asked(tmp_path):
    for prefetch, threads in (("auto", []), (False, []), (True, ["resreg-prefetch"])):
        epoch = folder_loader(tmp_path / str(prefetch), prefetch=prefetch).batches(0)
        next(epoch)
        assert [t.name for t in threading.enumerate() if t.name == "resreg-prefetch"] == threads
        epoch.close()


def test_an_epoch_a_later_batches_call_took_over_says_so_in_one_line_and_the_later_one_goes_on(tmp_path):
    loader = folder_loader(tmp_path)
    earlier = loader.batches(0)
    next(earlier)
    later = loader.batches(1)
    next(later)
    with pytest.raises(RuntimeError) as error:
        next(earlier)
    assert str(error.value) == "FolderLoader.batches: a later batches() call took over the worker processes"
    assert len(list(later)) == 1  # its second and last batch: the earlier epoch's end left it the workers
