"""`synthetic` as registered: random images shaped like the data set they stand in for.

`resreg train resnet152 data.type=synthetic` should measure the model the config describes, on images of
its size: so an override that makes a data section `synthetic` records which data set it replaced
(`like`, with that section's own `image_size` if it had one; resreg.config.loader), and the images
take their side, channels and number of classes from it unless they are given.
"""

from __future__ import annotations

from resreg.data import DataSource
from resreg.data import synthetic as random_images

#: (side, channels, classes) of the images each built-in data set yields.
NATIVE_SHAPES = {
    "fashion_mnist": (28, 1, 10),
    "mnist": (28, 1, 10),
    "cifar10": (32, 3, 10),
    "cifar100": (32, 3, 100),
    "imagefolder": (224, 3, 1000),  # ImageNet's classes: a folder's own number is known only from its files
}
#: the shape of synthetic data that stands in for nothing, or for a data set not listed above
DEFAULT_SHAPE = (32, 3, 10)


def synthetic(
    *,
    num_images: int = 1024,
    image_size: int | None = None,
    in_chans: int | None = None,
    num_classes: int | None = None,
    like: str | None = None,
    seed: int = 0,
) -> DataSource:
    """Random uint8 images with random labels, and a val and a test split each a quarter the size.

    Any config runs on it (`resreg train CONFIG data.type=synthetic`): a way to try the pipeline without
    data, or to measure a model's speed on images of its data set's shape.

    Args:
        num_images: number of train images.
        image_size: side of the square images (default: that of the `like` data set, else 32).
        in_chans: channels per image (default: those of the `like` data set, else 3).
        num_classes: number of classes, labels uniform in [0, num_classes) (default: the `like` data set's, else 10).
        like: the data set these images stand in for: a `data.type=synthetic` override sets it to the one it
            replaced. Built-in data sets give their shape (imagefolder: 224 pixels, 3 channels, ImageNet's 1000
            classes); others give the defaults.
        seed: seed of the generator, so the same arguments give the same images.
    """
    side, chans, classes = NATIVE_SHAPES.get(like or "", DEFAULT_SHAPE)
    return random_images(
        num_images=num_images,
        image_size=side if image_size is None else image_size,
        in_chans=chans if in_chans is None else in_chans,
        num_classes=classes if num_classes is None else num_classes,
        seed=seed,
    )
