"""Built-in plugin: the DenseNet builder, its presets (presets.yaml) and torchvision's legacy-key converter."""

from __future__ import annotations

import resreg
from resreg.registry import Registrar


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    # By import path: registering (and `resreg list`) does not import torch.
    registry.register("builder", "densenet", f"{__name__}.model:densenet")
    registry.register("converter", "torchvision_densenet_legacy", f"{__name__}.convert:torchvision_densenet_legacy")
    registry.register_presets("model", __package__)
