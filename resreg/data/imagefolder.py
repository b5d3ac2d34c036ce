"""The `imagefolder` data set: ImageNet or any data set laid out as `<root>/<split>/<class>/<image>`."""

from __future__ import annotations

from pathlib import Path

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from resreg.data.download import root_missing_error
from resreg.data.folder import scan
from resreg.data.source import DataSource


def imagefolder(*, root: str, train_dir: str = "train", val_dir: str = "val", image_size: int = 224) -> DataSource:
    """Images in class folders (the ImageNet layout), decoded on the fly; normalised with ImageNet statistics.

    Args:
        root: directory holding the train and val folders, each with one sub-folder per class.
        train_dir: name of the train folder under root.
        val_dir: name of the validation folder under root (its classes must be train classes); "" for none.
        image_size: side of the square crop fed to the model (224 for ImageNet).
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        holds = f"{train_dir}/ and {val_dir}/ (one folder per class in each)" if val_dir else f"{train_dir}/<class>/"
        instead = "or set $IMAGENET, which the shipped ImageNet configs read"
        raise root_missing_error("imagefolder", base, instead=instead, holds=holds)
    train = scan(base / train_dir, image_size)
    val = scan(base / val_dir, image_size, train.classes) if val_dir else None
    size = (image_size, image_size)
    return DataSource(
        "imagefolder", train, val, None, len(train.classes), 3, size, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
    )
