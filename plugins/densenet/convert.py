"""Weight converter for torchvision's legacy DenseNet checkpoints.

The checkpoints behind torchvision's DenseNet URLs (ported from LuaTorch) name the dense-layer modules
`norm.1`, `conv.1`, `norm.2`, `conv.2`: dots in module names were allowed then. torchvision and timm
rename them when loading (`norm1`, ...); so does this converter, registered as kind `converter`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_LEGACY_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$")


def torchvision_densenet_legacy(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Rename legacy torchvision DenseNet keys (`...denselayer1.norm.1.weight` -> `...denselayer1.norm1.weight`).

    Keys that are not legacy pass through unchanged, in their order, so a current checkpoint is left as it is.
    """
    return {_LEGACY_KEY.sub(r"\1\2", key): value for key, value in state_dict.items()}
