"""The data-set contract: what a registered data set returns, and the loaders that batch it.

A data set is a factory registered under the kind `dataset` (`registry.register("dataset", "name",
"package.module:factory")`); `data: {type: name, ...}` calls it with the other keys and gets a
`DataSource`: its train/val/test splits, the number of classes, the image shape and the normalisation
statistics. A split is either
- an `ImageSet`: uint8 images [N, C, H, W] and int64 labels in memory (MNIST, CIFAR, synthetic), made
  into a source with `in_memory_source` (val split, limit, statistics), or
- a `FolderSplit`: (image path, label) pairs decoded, resized and cropped on the fly (ImageNet layout):
  by PIL in worker processes, or as JPEG batches on the training device (`data.decode`); an unreadable
  image is skipped with a `BadImageWarning` naming it.

`make_loader` turns a split into batches: reproducible from (seed, epoch, batch index), the same on any
number of processes, augmented with `AugmentOptions`. A plugin's factory finds its files where every data
set is looked for (`search_dirs`: data.root, $RESREG_DATA, the user cache, /usr/share/datasets),
fetches them with `fetch` (checksummed, atomic) and reports absent ones with `missing_error`.
The formats themselves (IDX, CIFAR, image folders) are the `datasets` plugin (resreg_plugins.datasets);
`synthetic` (random images, the no-data path) is resreg's own.

    source = registry.build("dataset", {"type": "fashion_mnist", "limit": 1000})
    loader = make_loader(source.train, batch_size=128, train=True, augment=AugmentOptions(hflip=True),
                         device=torch.device("cpu"), seed=0, stats=source)
    for images, labels in loader.batches(epoch=0): ...
"""

from resreg.data.augment import AugmentOptions
from resreg.data.bad_images import BadImageWarning
from resreg.data.download import (
    SYNTHETIC_HINT,
    cache_dir,
    fetch,
    find_files,
    missing_error,
    root_missing_error,
    search_dirs,
)
from resreg.data.folder import IMAGE_EXTENSIONS, FolderSplit
from resreg.data.folder_loader import FolderLoader
from resreg.data.imageset import ImageSet
from resreg.data.loader import InMemoryLoader, Loader, make_loader
from resreg.data.source import DataSource, Split, Stats, channel_stats, in_memory_source
from resreg.data.synthetic import synthetic

__all__ = [
    "IMAGE_EXTENSIONS",
    "SYNTHETIC_HINT",
    "AugmentOptions",
    "BadImageWarning",
    "DataSource",
    "FolderLoader",
    "FolderSplit",
    "ImageSet",
    "InMemoryLoader",
    "Loader",
    "Split",
    "Stats",
    "cache_dir",
    "channel_stats",
    "fetch",
    "find_files",
    "in_memory_source",
    "make_loader",
    "missing_error",
    "root_missing_error",
    "search_dirs",
    "synthetic",
]
