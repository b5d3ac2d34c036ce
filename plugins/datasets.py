"""Built-in plugin: the data sets (the factories live in resreg.data; this only names them)."""

from __future__ import annotations

import resreg
from resreg.data import cifar10, cifar100, fashion_mnist, imagefolder, mnist, synthetic
from resreg.registry import Registry


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    for factory in (fashion_mnist, mnist, cifar10, cifar100, imagefolder, synthetic):
        registry.register("dataset", factory.__name__, factory)
