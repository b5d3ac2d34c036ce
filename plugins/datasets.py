"""Built-in plugin: the data sets (the factories live in resreg.data; this only names them)."""

from __future__ import annotations

import resreg
from resreg.registry import Registry

# By import path ("module:factory"): registering (and `resreg list`) imports neither resreg.data nor torch.
FACTORIES = {
    "fashion_mnist": "resreg.data.mnist", "mnist": "resreg.data.mnist", "cifar10": "resreg.data.cifar",
    "cifar100": "resreg.data.cifar", "imagefolder": "resreg.data.imagefolder", "synthetic": "resreg.data.synthetic",
}  # fmt: skip


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    for name, module in FACTORIES.items():
        registry.register("dataset", name, f"{module}:{name}")
