"""resreg-se: squeeze-and-excitation blocks for resreg, a third-party plugin.

Installed, it is found through the `resreg` entry-point group (see pyproject.toml) and registers the
blocks `se_basic` and `se_bottleneck` and the preset `seresnet50`. It uses resreg's public API
only: `resreg.hookimpl` and the registry it is handed.
"""

from __future__ import annotations

from typing import Any

import resreg

from .blocks import SEBasicBlock, SEBottleneck

__version__ = "0.1.0"

#: A preset is a spec for a builder, here resreg's built-in `resnet`; `help` and `meta` describe it.
#: timm's seresnet50 is resnet50 with SE in every bottleneck: same stem, shortcuts (B) and head.
PRESETS: dict[str, dict[str, Any]] = {
    "seresnet50": {
        "type": "resnet",
        "block": "se_bottleneck",
        "depths": [3, 4, 6, 3],
        "help": "SE-ResNet-50 (Hu et al. 2018), timm's seresnet50 layout",
        "meta": {"paper": "Hu et al. 2018", "paper_error": 23.29, "dataset": "imagenet"},
    },
}


@resreg.hookimpl
def resreg_register(registry: Any) -> None:
    registry.register("block", "se_basic", SEBasicBlock)
    registry.register("block", "se_bottleneck", SEBottleneck)
    for name, spec in PRESETS.items():
        registry.register("model", name, spec)
