"""Built-in plugin: the training recipes of the papers (ResNet CIFAR and ImageNet, DenseNet) and a fast one.

Each recipe is a preset in presets.yaml: the values of `resreg.recipe.Recipe` that its paper
uses, with a `help` line and the paper it follows (`meta.paper`), as the model presets are.
"""

from __future__ import annotations

from importlib import resources

import yaml

import resreg
from resreg.registry import Registry


def load_presets() -> dict[str, dict]:
    """The presets of presets.yaml; keys starting with `_` are YAML anchors, not presets."""
    text = resources.files(__package__).joinpath("presets.yaml").read_text()
    return {name: spec for name, spec in yaml.safe_load(text).items() if not name.startswith("_")}


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    for name, spec in load_presets().items():
        registry.register("recipe", name, spec)
