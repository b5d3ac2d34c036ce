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
    "load_model": "resreg.models",
    "list_models": "resreg.models",
    "BuildContext": "resreg.models",
    "predict": "resreg.prediction",  # not resreg.predict: a submodule of that name would shadow the function
    "load_config": "resreg.config",
    "validate_config": "resreg.config",
    "get_registry": "resreg.plugins",
    "Registry": "resreg.registry",
    "Registrar": "resreg.registry",
    "Entry": "resreg.registry",
    "ref": "resreg.schema",
    "FeatureInfo": "resreg.features",
    "ResregError": "resreg.errors",
    "ConfigError": "resreg.errors",
    "RegistryError": "resreg.errors",
    "WeightsError": "resreg.errors",
    "DataError": "resreg.errors",
}

#: The modules a plugin may import (docs/api.md documents them; import-linter in pyproject.toml keeps
#: plugins/ and examples/ to them). Everything else in resreg is internal and may change.
PUBLIC_MODULES = (
    "resreg",
    "resreg.blocks",  # the residual-block template and the ResNet blocks
    "resreg.testing",  # the plugin authors' test kit
    "resreg.registry",
    "resreg.schema",
    "resreg.errors",
    "resreg.features",
    "resreg.models",
    "resreg.weights",
    "resreg.grad_checkpoint",
    "resreg.run_info",  # what training hooks receive as `run`
    "resreg.layout",  # the names of a run directory's and a model repo's files
    "resreg.recipe",  # the recipe base
    "resreg.data",  # the data-set contract
)

__all__ = ["__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'resreg' has no attribute {name!r}")
