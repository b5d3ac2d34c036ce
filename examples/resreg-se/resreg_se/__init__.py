"""resreg-se: the attention `eca`, the block `inverted_residual` and the presets `seresnet50` and
`ecaresnet50d`, registered by import path (`resreg list` does not import torch) through the `resreg`
entry point (see pyproject.toml)."""

from __future__ import annotations

import resreg
from resreg.registry import Registrar

__version__ = "0.1.0"

#: Presets are specs for resreg's built-in `resnet` builder; attention goes in a block's `attn` slot.
#: timm's seresnet50 is resnet50 with SE in every bottleneck, ecaresnet50d resnet50d with ECA.
PRESETS = {
    "seresnet50": {
        "preset": "resnet50", "block": {"type": "bottleneck", "attn": "se"},
        "help": "SE-ResNet-50 (Hu et al. 2018), timm's seresnet50 layout",
        "meta": {"paper": "Hu et al. 2018", "paper_error": 23.29, "dataset": "imagenet"},
    },
    "ecaresnet50d": {
        "preset": "resnet50d", "block": {"type": "bottleneck", "attn": "eca"},
        "help": "ECA-ResNet-50-D (Wang et al. 2020), timm's ecaresnet50d layout",
        "meta": {"paper": "Wang et al. 2020", "dataset": "imagenet"},
    },
}  # fmt: skip


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    registry.register("attn", "eca", f"{__name__}.parts:eca")
    registry.register("block", "inverted_residual", f"{__name__}.parts:InvertedResidual")
    for name, spec in PRESETS.items():
        registry.register("model", name, spec)
