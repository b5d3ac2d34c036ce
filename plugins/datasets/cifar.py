"""CIFAR-10 and CIFAR-100 in their "python version": pickled dicts of numpy arrays (Krizhevsky, 2009).

The format IS pickle, and unpickling runs whatever globals a file names, so these files are read
with an Unpickler that resolves only the few globals a numpy array needs; anything else (os.system,
builtins.eval, ...) is refused with a DataError before it can run.

Not torchvision.datasets.CIFAR10/100: they read the same batches with a plain `pickle.load`, which
would run any code a tampered or look-alike file names (resreg reads pickles only through this
restricted reader, and only from the user's own data set files); they also insist on the folder
cifar-10-batches-py and the official files' md5s, where resreg accepts the files in data.root itself.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from resreg.data import DataSource, ImageSet, find_files, in_memory_source, missing_error, search_dirs
from resreg.errors import DataError

_core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core; pickles name either
# (module, name) -> object: numpy array reconstruction (protocols 2 and 5), and how protocols 0-2
# written by Python 3 spell a bytes object. Dicts, lists, str, bytes and ints need no global at all.
_ALLOWED = {
    **{(m, "_reconstruct"): _core.multiarray._reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _core.numeric._frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}
_URL = "https://www.cs.toronto.edu/~kriz/"


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")  # the official files were pickled by Python 2
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.path}: refusing to unpickle {module}.{name} (a CIFAR batch holds only dicts, lists, "
                "strings, numbers and numpy arrays; this file is not one, or has been tampered with)"
            ) from None


def read_batch(path: Path) -> dict[str, Any]:
    """Unpickle one CIFAR batch or meta file safely; keys are returned as str."""
    try:
        with open(path, "rb") as f:
            batch = _RestrictedUnpickler(f, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{path} is not a CIFAR pickle: {exc}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR pickle: it holds a {type(batch).__name__}, not a dict")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def cifar10(*, root: str | None = None, val_split: int = 0, limit: int | None = None) -> DataSource:
    """CIFAR-10: 50,000 train and 10,000 test 32x32 colour images in 10 classes.

    Args:
        root: directory of data_batch_1..5, test_batch and batches.meta (or of cifar-10-batches-py).
        val_split: split the last this many train images off as the validation set (the ResNet paper: 5000).
        limit: keep only the first this many train images (quick tests).
    """
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    files = _find("cifar10", "cifar-10-batches-py", root, [*train_files, "test_batch", "batches.meta"])
    classes = _names(files["batches.meta"], "label_names")
    train = _concat([_images(files[f], "labels", classes) for f in train_files])
    return in_memory_source(
        "cifar10", train, _images(files["test_batch"], "labels", classes), val_split=val_split, limit=limit
    )


def cifar100(*, root: str | None = None, val_split: int = 0, limit: int | None = None) -> DataSource:
    """CIFAR-100: 50,000 train and 10,000 test 32x32 colour images in 100 (fine) classes.

    Args:
        root: directory of train, test and meta (or of cifar-100-python).
        val_split: split the last this many train images off as the validation set.
        limit: keep only the first this many train images (quick tests).
    """
    files = _find("cifar100", "cifar-100-python", root, ["train", "test", "meta"])
    classes = _names(files["meta"], "fine_label_names")
    train = _images(files["train"], "fine_labels", classes)
    return in_memory_source(
        "cifar100", train, _images(files["test"], "fine_labels", classes), val_split=val_split, limit=limit
    )


def _find(name: str, folder: str, root: str | None, names: list[str]) -> dict[str, Path]:
    dirs = [d for base in search_dirs(name, root) for d in (base, base / folder)]
    found = find_files(dirs, names, gz=False)
    if found is None:
        hint = f"or download {_URL}{folder.replace('-batches-py', '-python')}.tar.gz and unpack it there"
        raise missing_error(name, dirs, names, hint)
    return found


def _names(path: Path, key: str) -> list[str]:
    names = read_batch(path).get(key)
    if not isinstance(names, list):
        raise DataError(f"{path}: no {key!r} list of class names")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _images(path: Path, key: str, classes: list[str]) -> ImageSet:
    batch = read_batch(path)
    data, labels = batch.get("data"), batch.get(key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: 'data' must be a uint8 array [N, 3072], got {getattr(data, 'shape', type(data))}")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise DataError(f"{path}: {key!r} must list one label for each of the {len(data)} images")
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(classes):
        raise DataError(f"{path}: labels must be in [0, {len(classes)})")
    images = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)  # rows are R, G, B planes
    return ImageSet(images, labels, classes)


def _concat(sets: list[ImageSet]) -> ImageSet:
    return ImageSet(torch.cat([s.images for s in sets]), torch.cat([s.labels for s in sets]), sets[0].classes)
