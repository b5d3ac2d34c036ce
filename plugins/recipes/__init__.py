"""Built-in plugin: the training recipes of the papers (ResNet CIFAR and ImageNet, DenseNet) and a fast one.

Each recipe is a preset in presets.yaml: the values of `resreg.recipe.Recipe` that its paper
uses, with a `help` line and the paper it follows (`meta.paper`), as the model presets are.
"""

from __future__ import annotations

import resreg
from resreg.registry import Registrar


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    registry.register_presets("recipe", __package__)
