"""Built-in plugin: the training recipes of the papers (ResNet CIFAR and ImageNet, DenseNet) and a fast one."""

from __future__ import annotations

from typing import Any

from resreg_plugins.recipes.cifar import CifarDenseNet, CifarResNet
from resreg_plugins.recipes.fast import Fast
from resreg_plugins.recipes.imagenet import ImageNetDenseNet, ImageNetResNet

import resreg

RECIPES = {
    "cifar_resnet": CifarResNet,
    "cifar_densenet": CifarDenseNet,
    "imagenet_resnet": ImageNetResNet,
    "imagenet_densenet": ImageNetDenseNet,
    "fast": Fast,
}


@resreg.hookimpl
def resreg_register(registry: Any) -> None:
    for name, recipe in RECIPES.items():
        registry.register("recipe", name, recipe)
