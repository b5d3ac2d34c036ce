"""What the image-folder loader resolves for a run (decoding, workers) and the reasons `resreg train` prints
for them, and where its batches go: the parts of resreg/data/folder_loader.py that mutation testing
(docs/testing.md) found no test looking at."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from resreg_plugins.datasets.imagefolder import imagefolder

from resreg.data import AugmentOptions, ImageSet, make_loader
from resreg.data.folder_loader import LoaderSetting, decoding_workers, resolve_decode
from resreg.errors import ConfigError

CPU = torch.device("cpu")


def test_data_workers_set_in_the_config_are_used_as_they_are() -> None:
    assert decoding_workers(3, processes_on_node=4) == LoaderSetting(3, "set by data.workers")


def test_automatic_data_workers_share_the_usable_cores_among_the_processes_of_the_node() -> None:
    cores = len(os.sched_getaffinity(0))
    assert decoding_workers(None) == LoaderSetting(cores, f"auto: {cores} usable core(s)")
    assert decoding_workers(None, processes_on_node=2) == LoaderSetting(
        max(1, cores // 2), f"auto: {cores} usable core(s) / 2 processes"
    )
    assert decoding_workers(None, processes_on_node=4 * cores).value == 1  # at least one each


def test_decoding_on_the_cpu_says_why() -> None:
    assert resolve_decode("auto", CPU) == LoaderSetting("cpu", "auto: training on cpu")
    assert resolve_decode("cpu", CPU) == LoaderSetting("cpu", "set by data.decode")


def test_batched_decoding_asked_for_on_the_cpu_runs_there_and_says_so() -> None:
    reason = "set by data.decode; torchvision decodes the JPEGs on cpu"
    assert resolve_decode("cuda", CPU) == LoaderSetting("cuda", reason)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU, auto decodes the JPEGs there")
def test_auto_decoding_for_a_gpu_torch_cannot_use_falls_back_to_the_cpu_saying_why() -> None:
    setting = resolve_decode("auto", torch.device("cuda"))
    assert setting.value == "cpu"
    assert setting.reason.startswith("auto: torchvision cannot decode JPEGs on cuda here (")


def test_an_unknown_decoding_is_one_line_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"^data.decode='gpu': valid: auto, cpu, cuda$"):
        resolve_decode("gpu", CPU)


@pytest.mark.parametrize("train", [True, False])
def test_folder_batches_are_on_the_device_asked_for(tmp_path, train: bool) -> None:
    # the meta device computes shapes only: enough to see that the crops, labels and statistics moved there
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(np.full((20, 24, 3), 80 * c, dtype=np.uint8)).save(tmp_path / split / name / "0.jpg")
    source = imagefolder(root=str(tmp_path), image_size=16)
    meta = torch.device("meta")
    loader = make_loader(
        source.train,
        batch_size=2,
        train=train,
        augment=AugmentOptions(scale=[16, 20]),
        device=meta,
        seed=0,
        stats=source,
        num_workers=0,
        decode="cpu",
    )
    [(x, labels)] = list(loader.batches(0))
    assert (x.device, labels.device, x.shape) == (meta, meta, (2, 3, 16, 16))


def test_training_crops_of_a_folder_are_the_drawn_scale_and_flip(tmp_path) -> None:
    # four copies of one 16x16 PNG (lossless), trained at scale [16, 16]: every crop is the whole image
    # (evaluation would resize to 18 and crop the centre), mirrored for the images whose flip was drawn
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(pixels).save(tmp_path / split / name / f"{i}.png")
    source = imagefolder(root=str(tmp_path), image_size=16)
    mean, std = (torch.tensor(s).view(3, 1, 1) for s in source.stats[:2])
    image = (torch.from_numpy(pixels).permute(2, 0, 1).float() / 255 - mean) / std
    augment = AugmentOptions(scale=[16, 16], hflip=True)
    loader = make_loader(source.train, batch_size=4, train=True, augment=augment, device=CPU, seed=0, stats=source,
                         num_workers=0, decode="cpu")  # fmt: skip
    [(x, _)] = list(loader.batches(0))
    flipped = [bool(torch.allclose(crop, image.flip(2), atol=1e-5)) for crop in x]
    assert all(flipped[i] or torch.allclose(crop, image, atol=1e-5) for i, crop in enumerate(x))
    assert any(flipped) and not all(flipped)


def test_folder_crops_are_the_in_memory_loaders_crops_of_the_same_images(tmp_path) -> None:
    # tall 24x16 PNGs at scale [16, 16]: only the top offset is free, drawn from the same plan by both
    # loaders (in memory: `apply_scale_crop`, an exact copy at this size), so the crops must be the same
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (4, 24, 16, 3), dtype=np.uint8)
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            (tmp_path / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(pixels[2 * c + i]).save(tmp_path / split / name / f"{i}.png")
    source = imagefolder(root=str(tmp_path), image_size=16)
    in_memory = ImageSet(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), torch.tensor([0, 0, 1, 1]),
                         ["cat", "dog"])  # fmt: skip
    options = {"batch_size": 4, "train": True, "augment": AugmentOptions(scale=[16, 16]), "device": CPU, "seed": 5}
    folder = make_loader(source.train, stats=source, num_workers=0, decode="cpu", **options)
    memory = make_loader(in_memory, stats=source, **options)
    [(x, labels)] = list(folder.batches(0))
    [(expected, expected_labels)] = list(memory.batches(0))
    assert torch.equal(labels, expected_labels)
    torch.testing.assert_close(x, expected, atol=1e-5, rtol=0)
