"""Built-in plugin: the ResNet family (He et al. 2015 and 2016) on resreg's public API.

Registers the blocks (basic, bottleneck, plain, preact_basic, preact_bottleneck), the shortcut
options (A, B, C, D, none), the stems (imagenet, cifar, deep), the classifier head, the `resnet`
builder and the presets of presets.yaml.
"""

from __future__ import annotations

from importlib import resources

import yaml

import resreg
from resreg.registry import Registry

from .blocks import BasicBlock, Bottleneck, PlainBlock
from .builder import resnet
from .heads import HEADS
from .preact import PreActBasicBlock, PreActBottleneck
from .shortcuts import SHORTCUTS
from .stems import STEMS

BLOCKS = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "plain": PlainBlock,
    "preact_basic": PreActBasicBlock,
    "preact_bottleneck": PreActBottleneck,
}


def load_presets() -> dict[str, dict]:
    """The presets of presets.yaml; keys starting with `_` are YAML anchors, not presets."""
    text = resources.files(__package__).joinpath("presets.yaml").read_text()
    return {name: spec for name, spec in yaml.safe_load(text).items() if not name.startswith("_")}


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    for kind, table in (("block", BLOCKS), ("shortcut", SHORTCUTS), ("stem", STEMS), ("head", HEADS)):
        for name, obj in table.items():
            registry.register(kind, name, obj)
    registry.register("builder", "resnet", resnet)
    for name, spec in load_presets().items():
        registry.register("model", name, spec)
