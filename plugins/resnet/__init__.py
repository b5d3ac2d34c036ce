"""Built-in plugin: the ResNet family (He et al. 2015 and 2016) on resreg's public API.

Registers the blocks (basic, bottleneck, plain, preact_basic, preact_bottleneck), the attention `se`,
the shortcut options (A, B, C, D, none), the stems (imagenet, cifar, deep), the classifier head, the
`resnet` builder and the presets of presets.yaml. Components are registered by import path, so this
module imports neither torch nor timm: they are imported when a model is built or a schema is read.
"""

from __future__ import annotations

import resreg
from resreg.registry import Registrar

#: kind -> name -> "module:attr" (a module of this package, or resreg's public blocks)
COMPONENTS = {
    "block": {
        "basic": "resreg.blocks:BasicBlock",
        "bottleneck": "resreg.blocks:Bottleneck",
        "plain": f"{__name__}.blocks:PlainBlock",
        "preact_basic": f"{__name__}.preact:PreActBasicBlock",
        "preact_bottleneck": f"{__name__}.preact:PreActBottleneck",
    },
    "attn": {"se": f"{__name__}.attention:se"},
    "shortcut": {name: f"{__name__}.shortcuts:shortcut_{name.lower()}" for name in ("A", "B", "C", "D", "none")},
    "stem": {
        "imagenet": f"{__name__}.stems:ImageNetStem",
        "deep": f"{__name__}.stems:DeepStem",
        "cifar": f"{__name__}.stems:CifarStem",
    },
    "head": {"classifier": f"{__name__}.heads:ClassifierHead"},
    "builder": {"resnet": f"{__name__}.builder:resnet"},
}


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    for kind, table in COMPONENTS.items():
        for name, target in table.items():
            registry.register(kind, name, target)
    registry.register_presets("model", __package__)
