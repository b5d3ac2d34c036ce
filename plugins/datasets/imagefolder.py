"""The `imagefolder` data set: ImageNet or any data set laid out as `<root>/<split>/<class>/<image>`.

The folders are listed by torchvision's ImageFolder rules (`find_classes`, `make_dataset`: class folders
sorted, images by extension, symlinks followed). The images are decoded by resreg's folder loader
(`resreg.data.make_loader` over a `FolderSplit`), not by `ImageFolder` + `DataLoader`: its batches are
reproducible from (seed, epoch, batch index) alone and the same on any number of processes (resume and
DDP depend on that), and benchmarks/folder_loader_throughput.py measures it as fast (0.98-1.0x).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision.datasets.folder import find_classes, make_dataset

from resreg.data import IMAGE_EXTENSIONS, DataSource, FolderSplit, root_missing_error
from resreg.errors import DataError


def imagefolder(
    *,
    root: str,
    train_dir: str = "train",
    val_dir: str = "val",
    image_size: int = 224,
    decode: Literal["auto", "cpu", "cuda"] = "auto",
    workers: int | None = None,
    max_bad_fraction: float = 0.01,
    prefetch: bool | Literal["auto"] = "auto",
) -> DataSource:
    """Images in class folders (the ImageNet layout), decoded on the fly; normalised with ImageNet statistics.

    Args:
        root: directory holding the train and val folders, each with one sub-folder per class.
        train_dir: name of the train folder under root.
        val_dir: name of the validation folder under root (its classes must be train classes); "" for none.
        image_size: side of the square crop fed to the model (224 for ImageNet).
        decode: where JPEGs are decoded: cpu (PIL, in the worker processes), cuda (in batches on the GPU,
            the workers only read the files), auto (cuda when training on CUDA).
        workers: processes reading the files (null: the usable cores shared among the node's processes).
        max_bad_fraction: unreadable images are skipped with a warning; more than this fraction of a
            split stops the run.
        prefetch: make the next batch (on a side CUDA stream) while this one trains: auto (when training
            on CUDA), true or false.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        holds = f"{train_dir}/ and {val_dir}/ (one folder per class in each)" if val_dir else f"{train_dir}/<class>/"
        instead = "or set $IMAGENET, which the shipped ImageNet configs read"
        raise root_missing_error("imagefolder", base, instead=instead, holds=holds)
    reading = {"decode": decode, "workers": workers, "max_bad_fraction": max_bad_fraction, "prefetch": prefetch}
    train = scan(base / train_dir, image_size, reading=reading)
    val = scan(base / val_dir, image_size, train.classes, reading) if val_dir else None
    size = (image_size, image_size)
    return DataSource(
        "imagefolder", train, val, None, len(train.classes), 3, size, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
    )


def scan(
    directory: Path, image_size: int, classes: list[str] | None = None, reading: dict[str, Any] | None = None
) -> FolderSplit:
    """List `directory/<class>/**/<image>`; with `classes` given (val), its class folders must be among them.
    `reading`: FolderSplit's decode, workers, max_bad_fraction and prefetch."""
    expected = f"expected {directory}/<class>/<image>"
    if not directory.is_dir():
        raise DataError(f"image folder {directory} does not exist ({expected})")
    try:
        found, _ = find_classes(directory)
    except FileNotFoundError:  # torchvision's word for "no class folders"
        raise DataError(f"image folder {directory} has no class folders ({expected})") from None
    classes = classes or found
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in found if name not in index]
    if unknown:
        raise DataError(f"image folder {directory}: class folders {unknown[:5]} are not train classes")
    # allow_empty: a class folder without images is fine (a val split may lack some classes); none at all is not.
    samples = make_dataset(directory, {name: index[name] for name in found}, IMAGE_EXTENSIONS, allow_empty=True)
    if not samples:
        raise DataError(f"image folder {directory} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return FolderSplit(samples, classes, image_size, **(reading or {}))
