"""resreg: residual networks from declarative specs, with plugins, recipes and the Hub.

    import resreg
    model = resreg.create_model("resnet50", num_classes=10)

The names below are imported on first use, so `import resreg` (and `resreg --help`) stays fast and
never imports torch until a model is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from resreg.hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "create_model": "resreg.models",
    "list_models": "resreg.models",
    "load_config": "resreg.config",
    "validate_config": "resreg.config",
    "get_registry": "resreg.plugins",
    "Registry": "resreg.registry",
    "ref": "resreg.schema",
    "ResregError": "resreg.errors",
    "ConfigError": "resreg.errors",
    "WeightsError": "resreg.errors",
    "DataError": "resreg.errors",
}

__all__ = ["__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'resreg' has no attribute {name!r}")
