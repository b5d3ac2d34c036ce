"""The image-folder loader keeps its worker processes from one epoch to the next, and that changes no batch:
JPEG files in the ImageNet layout, real worker processes."""

from __future__ import annotations

import multiprocessing
import os
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from resreg_plugins.datasets.imagefolder import imagefolder

from resreg.data import AugmentOptions, make_loader
from resreg.errors import ConfigError, DataError

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


# --- JPEGs decoded on the device (data.decode=cuda), run on the CPU ------------------------------------


def gradient(width: int, height: int, seed: int) -> np.ndarray:
    """RGB whose channels rise 3-5 levels per pixel: a crop one pixel off differs by more than 2 levels."""
    yy, xx = np.mgrid[0:height, 0:width]
    r, g, b = (seed * 37 + 3 * xx) % 200, (seed * 11 + 4 * yy) % 200, (5 * xx + 3 * yy) % 200
    return np.stack([r, g, b], axis=-1).astype(np.uint8) + 20


def write_mixed(root, per_class: int = 4) -> None:
    """Baseline, progressive, grey, CMYK and EXIF-rotated JPEGs and a PNG, of varied sizes, in two classes."""
    savers = [
        lambda im, p: im.save(p.with_suffix(".jpg"), quality=95),
        lambda im, p: im.save(p.with_suffix(".jpg"), quality=95, progressive=True),
        lambda im, p: im.convert("L").save(p.with_suffix(".jpg"), quality=95),
        lambda im, p: im.convert("CMYK").save(p.with_suffix(".jpg"), quality=95),
        lambda im, p: im.save(p.with_suffix(".jpg"), quality=95, exif=rotated_exif()),
        lambda im, p: im.save(p.with_suffix(".png")),
    ]
    for c, name in enumerate(("cat", "dog")):
        (root / "train" / name).mkdir(parents=True)
        for i in range(per_class):
            seed = c * per_class + i
            image = Image.fromarray(gradient(40 + 3 * i, 32 + 2 * c, seed))
            savers[seed % len(savers)](image, root / "train" / name / str(i))


def rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated 90 degrees; PIL's path turns it upright, so must the device path
    return exif


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mixed")
    write_mixed(root, per_class=6)
    return imagefolder(root=str(root), val_dir="", image_size=24)


def decoded(source, decode: str, workers: int = 0, train: bool = True, augment=AUGMENT, stats=None, device=CPU):
    made = make_loader(
        source.train, batch_size=4, train=train, augment=augment, device=device, seed=5, stats=stats or source,
        num_workers=workers, decode=decode,
    )  # fmt: skip
    return made, [list(made.batches(epoch)) for epoch in range(2)]


#: the devices the batched decoding runs on here: the CPU (torchvision's libjpeg-turbo) and, where there is one, nvJPEG
DEVICES = [CPU] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES, ids=str)
@pytest.mark.parametrize("train", [True, False])
def test_device_decoding_gives_the_images_of_the_cpu_path(mixed, train: bool, device: torch.device) -> None:
    augment = AugmentOptions(scale=(24, 40), hflip=True, color_jitter=0.3)
    unit = ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))  # normalised values are the 0..255 pixel values
    loader, on_device = decoded(mixed, "cuda", train=train, augment=augment, stats=unit, device=device)
    _, on_cpu = decoded(mixed, "cpu", train=train, augment=augment, stats=unit)
    assert loader.settings["decode"].value == "cuda" and len(on_device[0]) == len(on_cpu[0]) > 1
    for epoch_device, epoch_cpu in zip(on_device, on_cpu, strict=True):
        for (x, y), (u, v) in zip(epoch_device, epoch_cpu, strict=True):
            x, y = x.cpu(), y.cpu()
            assert torch.equal(y, v)  # the same images in the same order
            # within 2 levels of PIL's pixels: the same crops of the same draws (a pixel off is 3+ levels)
            assert (x - u).abs().max() <= 2.0, (x - u).abs().amax(dim=(1, 2, 3))


def test_device_decoding_does_not_depend_on_the_worker_count(mixed) -> None:
    _, in_process = decoded(mixed, "cuda", workers=0)
    loader, in_workers = decoded(mixed, "cuda", workers=2)
    assert loader.settings["data workers"].value == 2
    assert all(same(a, b) for a, b in zip(in_process, in_workers, strict=True))


def test_the_device_decodes_only_what_it_decodes_as_pil_does(mixed) -> None:
    from resreg.data.device_jpeg import read_for_device

    kinds = {}
    for path, _ in mixed.train.samples:
        image, encoded = read_for_device(path, 24, 24, None)
        kinds[Image.open(path).format, Image.open(path).mode, encoded] = image.dim()
    # baseline, progressive and grey JPEGs as bytes (1-D); CMYK, EXIF-rotated JPEGs and PNGs as PIL's crops
    assert set(kinds) == {("JPEG", "RGB", True), ("JPEG", "L", True), ("JPEG", "CMYK", False), ("JPEG", "RGB", False),
                          ("PNG", "RGB", False)}  # fmt: skip
    assert {dim for (*_, encoded), dim in kinds.items()} == {1, 3}


def test_decode_auto_is_cpu_off_cuda_and_workers_share_the_cores(mixed) -> None:
    import os

    loader = make_loader(mixed.train, batch_size=4, train=True, augment=AUGMENT, device=CPU, seed=0, stats=mixed,
                         processes_on_node=2)  # fmt: skip
    cores = len(os.sched_getaffinity(0))
    assert loader.settings["decode"] == ("cpu", "auto: training on cpu")
    assert loader.settings["data workers"] == (max(1, cores // 2), f"auto: {cores} usable core(s) / 2 processes")


# --- unreadable and 16-bit images (issue 22) -----------------------------------------------------------


def bomb_png(path) -> None:
    """A valid PNG header that declares 30000 x 30000 pixels (900 MB decoded), with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 30001))
                     + chunk(b"IEND", b""))  # fmt: skip


def write_with_bad(root, good: int = 8) -> list[str]:
    """`good` JPEGs, a truncated JPEG and a bomb PNG in root/train/<class>/; returns the bad files."""
    for i in range(good):
        folder = root / "train" / ("cat", "dog")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(gradient(30, 28, i)).save(folder / f"{i}.jpg", quality=90)
    whole = (root / "train" / "cat" / "0.jpg").read_bytes()
    truncated, bomb = root / "train" / "cat" / "truncated.jpg", root / "train" / "dog" / "bomb.png"
    truncated.write_bytes(whole[: len(whole) // 2])
    bomb_png(bomb)
    return [str(truncated), str(bomb)]


@pytest.mark.parametrize("decode", ["cpu", "cuda"])
def test_a_bad_image_is_skipped_with_a_warning_naming_it(tmp_path, decode: str) -> None:
    bad = write_with_bad(tmp_path)
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=16, max_bad_fraction=0.2)
    loader = make_loader(source.train, batch_size=5, train=True, augment=AUGMENT, device=CPU, seed=0, stats=source,
                         num_workers=0, decode=decode)  # fmt: skip
    with pytest.warns(UserWarning) as caught:
        first = list(loader.batches(0))
    warned = [str(w.message) for w in caught if "unreadable image" in str(w.message)]
    assert len(warned) == 2 and all(any(path in line for line in warned) for path in bad)
    assert all("\n" not in line for line in warned) and "decompression bomb" in " ".join(warned)
    assert sum(len(y) for _, y in first) == 8  # the 2 bad of the 10 are left out of their batches
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the next epoch skips the same files without warning again
        assert sum(len(y) for _, y in loader.batches(1)) == 8


def test_a_jpeg_the_device_refuses_is_reported_as_the_cpu_path_reports_it(tmp_path) -> None:
    write_with_bad(tmp_path)
    whole = bytearray((tmp_path / "train" / "dog" / "1.jpg").read_bytes())
    whole[whole.index(b"\xff\xc0") + 12] = 9  # the first component names quantisation table 9: there are 0-3
    (tmp_path / "train" / "dog" / "1.jpg").write_bytes(bytes(whole))  # a whole baseline JPEG by its markers
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=16, max_bad_fraction=0.5)
    warned = {}
    for decode in ("cpu", "cuda"):
        loader = make_loader(source.train, batch_size=10, train=False, augment=AUGMENT, device=CPU, seed=0,
                             stats=source, num_workers=0, decode=decode)  # fmt: skip
        with pytest.warns(UserWarning) as caught:
            ((_, labels),) = loader.batches(0)
        # the same lines, but found in another order: the device path reports its refusals after the batch
        warned[decode] = sorted(str(w.message).split("so far): ")[1] for w in caught if "unreadable" in str(w.message))
        assert len(labels) == 7
    assert warned["cuda"] == warned["cpu"] and "1.jpg: cannot decode this image" in " ".join(warned["cpu"])


def test_more_bad_images_than_the_set_fraction_stop_the_run(tmp_path) -> None:
    write_with_bad(tmp_path)
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=16, max_bad_fraction=0.1)  # 1 of 10 allowed
    loader = make_loader(source.train, batch_size=10, train=False, augment=AUGMENT, device=CPU, seed=0,
                         stats=source, num_workers=0)  # fmt: skip
    stop = r"^2 of the 10 images are unreadable, more than data.max_bad_fraction=0.1 of them; the last: .*train/"
    with pytest.warns(UserWarning), pytest.raises(DataError, match=stop):
        list(loader.batches(0))


def test_a_16_bit_image_is_read_scaled_not_saturated(tmp_path) -> None:
    folder = tmp_path / "train" / "scan"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((20, 20), 16384, dtype=np.uint16)).save(folder / "deep.png")  # a quarter of full scale
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=16)
    unit = ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))
    for decode in ("cpu", "cuda"):
        loader = make_loader(source.train, batch_size=1, train=False, augment=AUGMENT, device=CPU, seed=0, stats=unit,
                             num_workers=0, decode=decode)  # fmt: skip
        ((x, _),) = loader.batches(0)
        assert torch.equal(x, torch.full((1, 3, 16, 16), 64.0))  # 16384 / 65535 * 255, not 255 (white)


TRAIN_CONFIG = """
model: {preset: resnet20, depths: [1, 1, 1]}
data: {type: imagefolder, root: data, val_dir: "", image_size: 16, max_bad_fraction: 0.2}
train: {preset: fast, length: 2, batch_size: 5}
engine: {progress: lines, checkpoint_every: 0}
eval: {splits: []}
"""


@pytest.mark.slow
def test_resreg_train_skips_a_bad_image_and_stops_when_too_many_are_bad(tmp_path, cli, monkeypatch) -> None:
    bad = write_with_bad(tmp_path / "data")
    (tmp_path / "run.yaml").write_text(TRAIN_CONFIG)
    monkeypatch.chdir(tmp_path)
    result = cli("train", "run.yaml", "--run-dir", "skipped")
    assert result.status == 0, result.err
    warned = [line for line in result.err.splitlines() if "unreadable image" in line]
    named = [os.path.relpath(path, tmp_path) for path in bad]  # data.root is relative: data/train/...
    assert len(warned) == 2 and all(any(path in line for line in warned) for path in named), result.err
    assert "Traceback" not in result.err and (tmp_path / "skipped" / "model.safetensors").is_file()
    banner = result.out + result.err
    assert re.search(r"decode +cpu \(auto: training on cpu\)", banner), banner
    assert re.search(r"data workers +\d+ \(auto: \d+ usable core\(s\)\)", banner), banner

    stopped = cli("train", "run.yaml", "data.max_bad_fraction=0.1", "--run-dir", "stopped")
    lines = stopped.err.strip().splitlines()
    assert stopped.status == 2 and "Traceback" not in stopped.err
    assert re.search(r"2 of the 10 images are unreadable, more than data.max_bad_fraction=0.1 of them; the last: "
                     r".*data/train/", lines[-1]), stopped.err  # fmt: skip


def test_without_a_jpeg_decoder_on_the_device_decode_cuda_is_one_line(mixed, monkeypatch) -> None:
    """A torchvision built without nvJPEG (simulated: its decoder raises as such a build does)."""
    import resreg.data.device_jpeg

    def no_decoder(data, device):
        raise RuntimeError("Not compiled with GPU support")

    monkeypatch.setattr(resreg.data.device_jpeg, "_decode_jpeg", no_decoder)
    with pytest.raises(ConfigError, match=r"^data.decode=cuda: torchvision cannot decode JPEGs on cpu here "
                       r"\(Not compiled with GPU support\): data.decode=cpu$"):  # fmt: skip
        make_loader(mixed.train, batch_size=4, train=True, augment=AUGMENT, device=CPU, seed=0, stats=mixed,
                    decode="cuda")  # fmt: skip


def test_under_ddp_each_process_holds_its_share_to_the_fraction(tmp_path) -> None:
    write_with_bad(tmp_path)  # 10 images, 2 bad: rank 0 of 2 reads 5 of them in order, the truncated JPEG among them
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=16, max_bad_fraction=0.15)
    rank0 = make_loader(source.train, batch_size=10, train=False, augment=AUGMENT, device=CPU, seed=0,
                        stats=source, num_workers=0, rank=0, world_size=2)  # fmt: skip
    # 1 of 10 would pass 0.15; 1 of the rank's 5 does not
    with pytest.raises(DataError, match=r"^1 of the 5 images read by this process \(of 2\) are unreadable"):
        list(rank0.batches(0))
