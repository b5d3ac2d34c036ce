"""Built-in plugin: ensembles as models (the `ensemble` builder) and their combiners."""

from __future__ import annotations

import resreg
from resreg.registry import Registry

from .combiners import COMBINERS
from .model import ensemble


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    registry.register("builder", "ensemble", ensemble)
    for name, factory in COMBINERS.items():
        registry.register("combiner", name, factory)
