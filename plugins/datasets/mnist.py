"""MNIST and Fashion-MNIST: four IDX files, found locally or downloaded from the official mirrors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from resreg_plugins.datasets.idx import read_idx

from resreg.data import DataSource, ImageSet, cache_dir, fetch, find_files, in_memory_source, missing_error, search_dirs
from resreg.errors import DataError

_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class _IdxSet:
    name: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    md5: tuple[str, ...]  # of the .gz files, in the order of _FILES


_FASHION = _IdxSet(
    "fashion_mnist",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
)
_MNIST = _IdxSet(
    "mnist",
    tuple(str(d) for d in range(10)),
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
)


def fashion_mnist(
    *, root: str | None = None, download: bool = True, val_split: int = 0, limit: int | None = None
) -> DataSource:
    """Fashion-MNIST (Zalando): 60,000 train and 10,000 test 28x28 grey images of 10 kinds of clothing.

    Args:
        root: directory of the IDX files (gz or not); also searched: $RESREG_DATA, the user cache, /usr/share/datasets.
        download: fetch the files from the official mirror (md5-checked) when they are found nowhere.
        val_split: split the last this many train images off as the validation set.
        limit: keep only the first this many train images (quick tests).
    """
    return _load(_FASHION, root, download, val_split, limit)


def mnist(
    *, root: str | None = None, download: bool = True, val_split: int = 0, limit: int | None = None
) -> DataSource:
    """MNIST: 60,000 train and 10,000 test 28x28 grey images of handwritten digits.

    Args:
        root: directory of the IDX files (gz or not); also searched: $RESREG_DATA, the user cache, /usr/share/datasets.
        download: fetch the files from the official mirrors (md5-checked) when they are found nowhere.
        val_split: split the last this many train images off as the validation set.
        limit: keep only the first this many train images (quick tests).
    """
    return _load(_MNIST, root, download, val_split, limit)


def _load(spec: _IdxSet, root: str | None, download: bool, val_split: int, limit: int | None) -> DataSource:
    dirs = search_dirs(spec.name, root)
    found = find_files(dirs, _FILES)
    target = Path(root).expanduser() if root else cache_dir(spec.name)
    if found is None and download:
        try:
            fetch([(f"{f}.gz", md5) for f, md5 in zip(_FILES, spec.md5, strict=True)], spec.mirrors, target)
        except DataError as exc:
            raise missing_error(spec.name, dirs, _FILES, f"or fetch them from {spec.mirrors[0]} ({exc})") from None
        found = find_files([target], _FILES)
    if found is None:
        raise missing_error(spec.name, dirs, _FILES, f"or pass download=true to fetch them into {target}")
    train = _split(found[_FILES[0]], found[_FILES[1]], spec.classes)
    test = _split(found[_FILES[2]], found[_FILES[3]], spec.classes)
    return in_memory_source(spec.name, train, test, val_split=val_split, limit=limit)


def _split(images_path: Path, labels_path: Path, classes: tuple[str, ...]) -> ImageSet:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dim() != 3 or images.dtype != torch.uint8 or labels.shape != images.shape[:1]:
        raise DataError(
            f"{images_path} and {labels_path} do not match: {tuple(images.shape)} {images.dtype} images "
            f"and {tuple(labels.shape)} labels (expected uint8 [N, H, W] and [N])"
        )
    if labels.numel() and int(labels.max()) >= len(classes):
        raise DataError(f"{labels_path}: label {int(labels.max())} out of range for {len(classes)} classes")
    return ImageSet(images[:, None].contiguous(), labels.long(), list(classes))
