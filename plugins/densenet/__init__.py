"""Built-in plugin: the DenseNet builder, its presets (presets.yaml) and torchvision's legacy-key converter."""

from __future__ import annotations

from importlib.resources import files

import yaml

import resreg
from resreg.registry import Registry


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    # By import path: registering (and `resreg list`) does not import torch.
    registry.register("builder", "densenet", f"{__name__}.model:densenet")
    registry.register("converter", "torchvision_densenet_legacy", f"{__name__}.convert:torchvision_densenet_legacy")
    presets = yaml.safe_load(files(__package__).joinpath("presets.yaml").read_text(encoding="utf-8"))
    for name, spec in presets.items():
        registry.register("model", name, spec)
