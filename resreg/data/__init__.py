"""Data sources: Fashion-MNIST / MNIST (IDX), CIFAR (pickle batches), ImageFolder, synthetic; batched augmentation.

source = fashion_mnist(limit=1000)            # a DataSource: splits, shape, statistics
loader = make_loader(source.train, batch_size=128, train=True, augment=AugmentOptions(hflip=True),
                     device=torch.device("cpu"), seed=0, stats=source)
for images, labels in loader.batches(epoch=0): ...
"""

from resreg.data.augment import AugmentOptions
from resreg.data.cifar import cifar10, cifar100
from resreg.data.folder import FolderSplit
from resreg.data.imagefolder import imagefolder
from resreg.data.imageset import ImageSet
from resreg.data.loader import FolderLoader, InMemoryLoader, Loader, make_loader
from resreg.data.mnist import fashion_mnist, mnist
from resreg.data.source import DataSource, Split, Stats
from resreg.data.synthetic import synthetic

__all__ = [
    "AugmentOptions",
    "DataSource",
    "FolderLoader",
    "FolderSplit",
    "ImageSet",
    "InMemoryLoader",
    "Loader",
    "Split",
    "Stats",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imagefolder",
    "make_loader",
    "mnist",
    "synthetic",
]
