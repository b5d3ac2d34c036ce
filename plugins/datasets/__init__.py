"""Built-in plugin: the data set formats (IDX, CIFAR pickle batches, image folders) and their names.

Each factory returns a `resreg.data.DataSource` (the contract in the core) and uses only `resreg.data`'s
public helpers (where data sets are looked for, the missing-data error, checksummed downloads).
`synthetic` is the core's format-free data set (the no-data path every missing-data error names),
registered here through `stand_in`, which knows the shapes of these formats for it to imitate.
"""

from __future__ import annotations

import resreg
from resreg.registry import Registrar

# By import path ("module:factory"): registering (and `resreg list`) imports neither the formats nor torch.
FACTORIES = {
    "fashion_mnist": "resreg_plugins.datasets.mnist", "mnist": "resreg_plugins.datasets.mnist",
    "cifar10": "resreg_plugins.datasets.cifar", "cifar100": "resreg_plugins.datasets.cifar",
    "imagefolder": "resreg_plugins.datasets.imagefolder", "synthetic": "resreg_plugins.datasets.stand_in",
}  # fmt: skip


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    for name, module in FACTORIES.items():
        registry.register("dataset", name, f"{module}:{name}")
