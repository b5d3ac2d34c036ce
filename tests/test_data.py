"""The data-set contract and loaders (resreg.data), and the formats plugin (resreg_plugins.datasets): the real
Fashion-MNIST, and IDX, CIFAR and image-folder files written in their formats."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from PIL import Image
from resreg_plugins.datasets.cifar import cifar10, cifar100, read_batch
from resreg_plugins.datasets.imagefolder import imagefolder
from resreg_plugins.datasets.mnist import fashion_mnist, mnist

from resreg.config.loader import load_config
from resreg.data import AugmentOptions, ImageSet, Stats, fetch, make_loader, synthetic
from resreg.data.augment import apply_color_jitter, apply_crop, apply_flip, apply_lighting
from resreg.errors import ConfigError, DataError
from resreg.plugins import get_registry
from resreg.registry import Registry

CPU = torch.device("cpu")
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _no_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's $RESREG_DATA and cache directory out of every test (and out of reach of writes)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.delenv("RESREG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))


# --- writing files in the real formats ---------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file: magic (0, 0, type 0x08 = uint8, ndim), big-endian int32 dims, then the bytes."""
    data = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist(root: Path, n_train: int, n_test: int, *, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    root.mkdir(parents=True, exist_ok=True)
    train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    labels = np.arange(n_train) % 10
    write_idx(root / f"train-images-idx3-ubyte{suffix}", train)
    write_idx(root / f"train-labels-idx1-ubyte{suffix}", labels)
    write_idx(root / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(root / f"t10k-labels-idx1-ubyte{suffix}", np.arange(n_test) % 10)
    return train, labels


def cifar_batch(n: int, key: bytes, num_classes: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch",
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        key: [int(v) for v in rng.integers(0, num_classes, n)],
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the official CIFAR files: str and bytes as Python 2 `str`
    (BINSTRING), protocol 2, numpy's reconstruction functions under their old module `numpy.core`."""

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        size = bytes([len(data)]) if len(data) < 256 else struct.pack("<i", len(data))
        self.write((pickle.SHORT_BINSTRING if len(data) < 256 else pickle.BINSTRING) + size + data)
        self.memoize(obj)

    def save_global(self, obj: object, name: str | None = None) -> None:
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__name__}\n".encode())
        self.memoize(obj)

    dispatch: ClassVar[dict] = {**pickle._Pickler.dispatch, str: save_py2_str, bytes: save_py2_str}


def dump(path: Path, obj: object, protocol: int | str) -> None:
    with open(path, "wb") as f:
        if protocol == "py2":
            Py2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=protocol)


# --- Fashion-MNIST (the real files) -------------------------------------------------------------------


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_real_files() -> None:
    source = fashion_mnist(download=False)
    assert (len(source.train), len(source.test)) == (60000, 10000)
    assert source.train.images.shape == (60000, 1, 28, 28) and source.train.images.dtype == torch.uint8
    assert source.train.labels.dtype == torch.int64
    assert torch.bincount(source.train.labels).tolist() == [6000] * 10
    assert torch.bincount(source.test.labels).tolist() == [1000] * 10
    assert (source.num_classes, source.in_chans, source.image_size) == (10, 1, (28, 28))
    assert source.train.classes[0] == "T-shirt/top" and source.train.classes[9] == "Ankle boot"
    assert source.mean[0] == pytest.approx(0.2860, abs=1e-3) and source.std[0] == pytest.approx(0.3530, abs=1e-3)
    split = fashion_mnist(download=False, val_split=5000, limit=1000)
    assert (len(split.train), len(split.val)) == (1000, 5000)
    assert torch.equal(split.val.images, source.train.images[-5000:])


# --- IDX ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_written_here(tmp_path: Path, gz: bool) -> None:
    train, labels = write_mnist(tmp_path, 50, 20, gz=gz)
    source = mnist(root=str(tmp_path), download=False, val_split=10)
    assert (len(source.train), len(source.val), len(source.test)) == (40, 10, 20)
    assert torch.equal(source.train.images[:, 0], torch.from_numpy(train[:40]))
    assert torch.equal(source.val.labels, torch.from_numpy(labels[40:]).long())
    assert source.mean[0] == pytest.approx(train[:40].mean() / 255, rel=1e-6)
    assert source.std[0] == pytest.approx((train[:40] / 255).std(), rel=1e-6)


def test_idx_found_through_resreg_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist(tmp_path / "mnist", 10, 10, gz=True)
    monkeypatch.setenv("RESREG_DATA", str(tmp_path))
    assert len(mnist(download=False).train) == 10


def test_idx_bad_file_is_a_data_error(tmp_path: Path) -> None:
    write_mnist(tmp_path, 10, 10, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match="IDX header says"):
        mnist(root=str(tmp_path), download=False)


def test_missing_data_set_names_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without data.root every usual place is searched and named (a data.root is searched alone:
    tests/test_first_hour.py)."""
    monkeypatch.setenv("RESREG_DATA", str(tmp_path / "shared"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError) as info:
        mnist(download=False)
    message = str(info.value)
    for place in (tmp_path / "shared", tmp_path / "shared" / "mnist", tmp_path / "cache", "/usr/share/datasets/mnist"):
        assert str(place) in message
    assert "resreg/mnist" in message and "train-images-idx3-ubyte" in message and "download" in message
    assert "data.type=synthetic" in message
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz"):
        cifar10(root=str(tmp_path / "mine"))


def test_fetch_checks_the_md5(tmp_path: Path) -> None:
    """A local file:// mirror stands in for the network: a good file arrives, a corrupt one never appears."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.gz").write_bytes(b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    fetch([("a.gz", md5)], [f"file://{tmp_path}/nowhere/", f"file://{mirror}/"], tmp_path / "got")
    assert (tmp_path / "got" / "a.gz").read_bytes() == b"payload"
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch([("a.gz", "0" * 32)], [f"file://{mirror}/"], tmp_path / "bad")
    assert not (tmp_path / "bad" / "a.gz").exists()


# --- CIFAR ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["py2", 2, pickle.DEFAULT_PROTOCOL])
def test_cifar10_pickle_batches(tmp_path: Path, protocol: int | str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = [cifar_batch(6, b"labels", 10, seed) for seed in range(6)]
    for i, batch in enumerate(batches[:5], 1):
        dump(folder / f"data_batch_{i}", batch, protocol)
    dump(folder / "test_batch", batches[5], protocol)
    names = [f"class{i}".encode() for i in range(10)]
    dump(folder / "batches.meta", {b"label_names": names, b"num_vis": 3072, b"num_cases_per_batch": 6}, protocol)
    source = cifar10(root=str(tmp_path), val_split=5)
    assert (len(source.train), len(source.val), len(source.test)) == (25, 5, 6)
    assert (source.num_classes, source.in_chans, source.image_size) == (10, 3, (32, 32))
    assert source.train.classes == [n.decode() for n in names]
    data = batches[0][b"data"]
    # A row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
    assert source.train.images[0, 1, 2, 3] == data[0, 1024 + 2 * 32 + 3]
    assert source.train.labels[:6].tolist() == batches[0][b"labels"]
    assert torch.equal(source.val.images[-1], torch.from_numpy(batches[4][b"data"][-1]).view(3, 32, 32))


def test_cifar100_pickle_batches(tmp_path: Path) -> None:
    for name, seed in (("train", 0), ("test", 1)):
        batch = cifar_batch(8, b"fine_labels", 100, seed)
        batch[b"coarse_labels"] = [0] * 8
        dump(tmp_path / name, batch, 2)
    fine = [f"fine{i}".encode() for i in range(100)]
    dump(tmp_path / "meta", {b"fine_label_names": fine, b"coarse_label_names": [b"c"] * 20}, 2)
    source = cifar100(root=str(tmp_path), limit=5)
    assert (len(source.train), len(source.test), source.num_classes) == (5, 8, 100)
    assert source.test.classes[99] == "fine99"


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch pwned",))


def test_cifar_pickle_with_a_forbidden_global_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    dump(tmp_path / "data_batch_1", {b"data": _Evil()}, 2)
    with pytest.raises(DataError, match=r"refusing to unpickle (posix|os)\.system"):
        read_batch(tmp_path / "data_batch_1")
    assert not (tmp_path / "pwned").exists()


# --- image folders --------------------------------------------------------------------------------------


def write_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 3), ("val", 2)):
        for c, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                h, w = 20 + 3 * i, 26 - 2 * c  # sizes differ: the loader resizes and crops
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def test_imagefolder_tree(tmp_path: Path) -> None:
    write_folder(tmp_path)
    source = imagefolder(root=str(tmp_path), image_size=16)
    assert (len(source.train), len(source.val), source.num_classes, source.image_size) == (6, 4, 2, (16, 16))
    augment = AugmentOptions(scale=(16, 24), hflip=True, color_jitter=0.4, lighting=0.1)
    train = make_loader(
        source.train, batch_size=4, train=True, augment=augment, device=CPU, seed=1, stats=source, num_workers=0
    )
    (x, y), *rest = list(train.batches(0))
    assert not rest and x.shape == (4, 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    again = make_loader(
        source.train, batch_size=4, train=True, augment=augment, device=CPU, seed=1, stats=source, num_workers=2
    )
    assert torch.equal(next(again.batches(0))[0], x)  # decoding in worker processes changes nothing
    assert torch.equal(next(again.batches(0, start=0))[1], y)
    val = [
        make_loader(source.val, batch_size=3, train=False, augment=augment, device=CPU, seed=1, stats=source,
                    rank=rank, world_size=2, num_workers=0)
        for rank in range(2)
    ]  # fmt: skip
    batches = [list(v.batches(0)) for v in val]
    assert [len(b) for b in batches] == [2, 2] and batches[0][0][0].shape == (1, 3, 16, 16)  # 4 images, 2 ranks
    assert sorted(torch.cat([y for b in batches for _, y in b]).tolist()) == [0, 0, 1, 1]


def test_imagefolder_val_class_unknown(tmp_path: Path) -> None:
    write_folder(tmp_path)
    (tmp_path / "val" / "bird").mkdir()
    with pytest.raises(DataError, match="bird"):
        imagefolder(root=str(tmp_path))


def test_imagefolder_lists_what_torchvisions_imagefolder_lists(tmp_path: Path) -> None:
    """The listing is torchvision's (nested folders, upper-case extensions, other files skipped)."""
    from torchvision.datasets import ImageFolder

    write_folder(tmp_path)
    (tmp_path / "train" / "dog" / "0sub").mkdir()  # listed after dog/2.png, as os.walk goes
    Image.new("RGB", (9, 9)).save(tmp_path / "train" / "dog" / "0sub" / "a.PNG", format="PNG")
    listed = imagefolder(root=str(tmp_path), image_size=8).train
    reference = ImageFolder(str(tmp_path / "train"))
    assert listed.samples == reference.samples and listed.classes == reference.classes and len(listed) == 7


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.mkdir(), "has no class folders"),
        (lambda d: (d / "cat").mkdir(parents=True) or (d / "cat" / "a.txt").write_text("x"), "holds no images"),
    ],
)
def test_imagefolder_without_images_is_one_line(tmp_path: Path, make, message: str) -> None:
    make(tmp_path / "train")
    with pytest.raises(DataError, match=rf"^image folder {tmp_path}/train {message} \(") as info:
        imagefolder(root=str(tmp_path), val_dir="")
    assert "\n" not in str(info.value)


# --- synthetic and the registry -------------------------------------------------------------------------


def test_synthetic_is_reproducible() -> None:
    a, b = synthetic(num_images=32, image_size=8, seed=3), synthetic(num_images=32, image_size=8, seed=3)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert a.train.images.shape == (32, 3, 8, 8) and len(a.test) == 8
    assert not torch.equal(a.train.images, synthetic(num_images=32, image_size=8, seed=4).train.images)


def test_every_dataset_is_registered_with_its_schema() -> None:
    registry = get_registry()
    assert {"fashion_mnist", "mnist", "cifar10", "cifar100", "imagefolder", "synthetic"} <= set(
        registry.names("dataset")
    )
    assert registry.get("dataset", "imagefolder").params["root"].required
    source = registry.build("dataset", {"type": "synthetic", "num_images": 16, "image_size": 4})
    assert source.train.images.shape == (16, 3, 4, 4)
    with pytest.raises(ConfigError, match="num_images"):
        registry.validate("dataset", {"type": "synthetic", "num_image": 16})


@pytest.mark.parametrize(
    ("config", "shape"),
    [("quickstart", (28, 1, 10)), ("cifar10/resnet20", (32, 3, 10)), ("resnet152", (224, 3, 1000))],
)
def test_synthetic_data_takes_the_shape_of_the_data_set_it_replaces(config: str, shape: tuple) -> None:
    """`resreg train resnet152 data.type=synthetic` is ResNet-152 on 224-pixel images of 1000 classes."""
    registry = get_registry()
    for overrides in (["data.type=synthetic"], ["data=synthetic"]):
        data = load_config(config, [*overrides, "data.num_images=4"])["data"]
        source = registry.build("dataset", data)
        side, chans, classes = shape
        assert (source.in_chans, source.image_size, source.num_classes) == (chans, (side, side), classes)
        assert source.train.images.shape == (4, chans, side, side) and int(source.train.labels.max()) < classes
    given = load_config(config, ["data.type=synthetic", "data.image_size=16", "data.num_classes=3"])["data"]
    assert registry.build("dataset", given | {"num_images": 4}).train.images.shape[2:] == (16, 16)  # given wins
    full = load_config(config, ["data={_replace_: true, type: synthetic, num_images: 4}"])["data"]
    assert full == {"type": "synthetic", "num_images": 4}  # a section written out in full is what it says
    alone = registry.build("dataset", full)  # standing in for nothing
    assert (alone.in_chans, alone.image_size, alone.num_classes) == (3, (32, 32), 10)


# --- the loader contract --------------------------------------------------------------------------------


def numbered(n: int = 100, size: int = 8) -> ImageSet:
    """Images whose label is their index, so a batch says which images it holds."""
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return ImageSet(images, torch.arange(n), [str(i) for i in range(n)])


CIFAR_AUG = AugmentOptions(crop_padding=2, hflip=True, normalize="pixel")


def loader(split: ImageSet, **kwargs: object):
    options = {"batch_size": 16, "train": True, "augment": CIFAR_AUG, "device": CPU, "seed": 0}
    stats = Stats((0.5,) * 3, (0.25,) * 3, split.images.float().mean(0) / 255)
    return make_loader(split, **{**options, "stats": stats, **kwargs})


def as_list(batches) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(batches)


def test_loader_is_deterministic_and_start_equals_skipping() -> None:
    split = numbered()
    first = as_list(loader(split).batches(3))
    assert len(first) == 6 and loader(split).num_images == 96  # drop_last in training
    second = as_list(loader(split).batches(3))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True))
    resumed = as_list(loader(split).batches(3, start=4))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first[4:], resumed, strict=True)) and len(resumed) == 2
    other_epoch = torch.cat([y for _, y in loader(split).batches(4)])
    assert not torch.equal(other_epoch, torch.cat([y for _, y in first]))


def test_rank_slices_concatenate_to_the_one_process_batch() -> None:
    split = numbered()
    single = as_list(loader(split).batches(1))
    ranks = [as_list(loader(split, rank=r, world_size=2).batches(1)) for r in range(2)]
    for i, (x, y) in enumerate(single):
        assert torch.equal(torch.cat([ranks[0][i][0], ranks[1][i][0]]), x)
        assert torch.equal(torch.cat([ranks[0][i][1], ranks[1][i][1]]), y)
    with pytest.raises(ConfigError, match="divide"):
        loader(split, rank=0, world_size=3)


def test_augmentation_changes_images_but_not_their_shape() -> None:
    split = numbered()
    augmented = as_list(loader(split).batches(0))
    plain = as_list(loader(split, augment=AugmentOptions(normalize="pixel")).batches(0))
    changed = sum(not torch.equal(a[0], p[0]) for a, p in zip(augmented, plain, strict=True))
    assert changed == len(plain)  # same order (same seed), different pixels
    assert all(a[0].shape == (16, 3, 8, 8) and a[0].dtype == torch.float32 for a in augmented)


def test_batched_crop_and_flip_match_a_per_image_reference() -> None:
    images = numbered(12).images
    where = torch.rand(12, 2, generator=torch.Generator().manual_seed(1))
    flips = torch.arange(12) % 2 == 0
    out = apply_flip(apply_crop(images, where, (8, 8), padding=4), flips)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (4,) * 4)
    for i in range(12):
        top, left = (where[i] * 9).long().tolist()  # 9 positions: 16 - 8 + 1
        expected = padded[i, :, top : top + 8, left : left + 8]
        assert torch.equal(out[i], expected.flip(2) if flips[i] else expected)
    assert not torch.equal(out, images)


def test_eval_covers_every_image_once_on_every_rank_count() -> None:
    split = numbered(101)
    for world_size in (1, 3):
        labels = torch.cat(
            [
                y
                for rank in range(world_size)
                for _, y in loader(split, train=False, rank=rank, world_size=world_size, batch_size=20).batches(0)
            ]
        )
        assert sorted(labels.tolist()) == list(range(101))
    x, _ = next(loader(split, train=False, batch_size=101).batches(0))
    assert x.mean(0).abs().max() < 1e-5  # per-pixel mean subtraction: every pixel's mean is 0


def test_loader_rejects_impossible_options() -> None:
    with pytest.raises(ConfigError, match=r"train\.augment\.scale and train\.augment\.crop_padding are two ways"):
        loader(numbered(), augment=AugmentOptions(scale=(256, 480), crop_padding=4))  # in-memory scale: test_first_hour
    with pytest.raises(ConfigError, match="larger than"):
        loader(numbered(10))
    with pytest.raises(ConfigError, match="RGB"):
        one_channel = ImageSet(torch.zeros(20, 1, 4, 4, dtype=torch.uint8), torch.zeros(20, dtype=torch.long), ["a"])
        make_loader(
            one_channel,
            batch_size=4,
            train=True,
            augment=AugmentOptions(lighting=0.1),
            device=CPU,
            seed=0,
            stats=Stats((0.5,), (0.5,)),
        )


@pytest.mark.parametrize("channels", [3, 1])
def test_colour_jitter_is_torchvisions_adjust_functions_per_image(channels: int) -> None:
    """Brightness, then contrast, then saturation, each image with its own factors, as torchvision computes them."""
    from torchvision.transforms.v2.functional import adjust_brightness, adjust_contrast, adjust_saturation

    x = torch.rand(5, channels, 7, 9, generator=torch.Generator().manual_seed(0))
    factors = torch.tensor([[1.3, 0.7, 1.2], [0.6, 1.4, 0.5], [1.0, 1.0, 0.0], [1.5, 0.5, 1.5], [0.8, 1.2, 1.0]])
    out = apply_color_jitter(x, factors)
    for image, (brightness, contrast, saturation), got in zip(x, factors.tolist(), out, strict=True):
        expected = adjust_brightness(image, brightness)
        expected = adjust_contrast(expected, contrast)
        if channels == 3:  # torchvision's saturation is for RGB; a grey image has none to change
            expected = adjust_saturation(expected, saturation)
        assert torch.allclose(got, expected, atol=1e-6), (brightness, contrast, saturation)
    assert len({tuple(o.flatten().tolist()) for o in out}) == len(out)  # each image got its own factors


def test_colour_augmentations() -> None:
    x = torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(apply_color_jitter(x, torch.ones(4, 3)), x, atol=1e-6)
    assert torch.allclose(apply_lighting(x, torch.zeros(4, 3)), x)
    jittered = apply_color_jitter(x, torch.tensor([[1.4, 0.6, 1.4]] * 4))
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.allclose(jittered, x)
    grey = apply_color_jitter(x, torch.tensor([[1.0, 1.0, 0.0]] * 4))  # saturation 0: every channel the same
    assert torch.allclose(grey[:, 0], grey[:, 2], atol=1e-6)
    lit = apply_lighting(x, torch.tensor([[1.0, 0.0, 0.0]] * 4)) - x  # along the first principal component
    assert torch.allclose(lit[0, :, 0, 0], 0.2175 * torch.tensor([-0.5675, -0.5808, -0.5836]), atol=1e-6)


@pytest.mark.parametrize(
    "options", [{"crop_padding": -1}, {"scale": (480, 256)}, {"color_jitter": 1.5}, {"normalize": "image"}]
)
def test_augment_options_are_checked(options: dict) -> None:
    with pytest.raises(ConfigError, match=r"^train\.augment\.\w+ must"):  # the keys as a config spells them
        AugmentOptions(**options)


def test_the_data_set_plugin_of_the_docs_trains_on_the_contract_alone(tmp_path: Path, monkeypatch) -> None:
    """docs/data.md's example plugin, run as written: it imports only resreg.data and resreg.errors, and
    what it returns is all the registry and the loader need."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text()
    code = page.split("## Write a data set plugin", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    imported = {line.split()[1] for line in code.splitlines() if line.startswith(("from resreg", "import resreg"))}
    assert imported == {"resreg.data", "resreg.errors"}
    (tmp_path / "my_data").mkdir()
    (tmp_path / "my_data" / "__init__.py").write_text("")
    (tmp_path / "my_data" / "npz.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_data", raising=False)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        np.savez(tmp_path / f"{split}.npz", images=images, labels=np.arange(n) % 3)
    registry = Registry()
    registry.register("dataset", "npz", "my_data.npz:npz")
    try:
        assert registry.get("dataset", "npz").params["val_split"].default == 0  # its signature is its schema
        source = registry.build("dataset", {"type": "npz", "root": str(tmp_path), "val_split": 2}, where="data")
        assert (len(source.train), len(source.val), source.num_classes, source.image_size) == (10, 2, 3, (8, 8))
        written = torch.from_numpy(np.load(tmp_path / "train.npz")["images"])
        assert torch.equal(source.train.images.permute(0, 2, 3, 1), written[:10])
        loader = make_loader(source.train, batch_size=5, train=True, augment=AugmentOptions(hflip=True), device=CPU,
                             seed=0, stats=source)  # fmt: skip
        assert [x.shape for x, _ in loader.batches(0)] == [(5, 3, 8, 8)] * 2
        with pytest.raises(DataError, match=r"npz not found: looked for train\.npz, test\.npz in .*numpy\.savez"):
            registry.build("dataset", {"type": "npz", "root": str(tmp_path / "my_data")})
    finally:
        for name in ("my_data", "my_data.npz"):
            sys.modules.pop(name, None)
