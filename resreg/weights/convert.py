"""Foreign state dicts -> resreg key names: wrapper prefixes stripped, then the registered converters.

DDP saves keys as `module.conv1.weight` and `torch.compile` as `_orig_mod.conv1.weight` (and the two
stack), so those prefixes are stripped first. Then every converter that plugins registered (registry
kind `converter`, a callable `(state_dict) -> state_dict`) runs, in name order. A converter must hand
back a state dict it does not recognise unchanged; e.g. the DenseNet plugin's converter renames
torchvision's legacy `denselayer1.norm.1.weight` keys and leaves every other key alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from resreg.errors import WeightsError

if TYPE_CHECKING:
    import torch

    from resreg.registry import Registry

#: prefixes added by wrappers around a model (DistributedDataParallel, torch.compile)
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove `module.` and `_orig_mod.` from the front of every key, as often as they appear."""
    stripped = {}
    for key, value in state_dict.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        stripped[key] = value
    return stripped


def strip_prefix_from(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Remove `prefix` (`model.`, `backbone.`) from the keys that start with it; other keys stay as they are."""
    return {key.removeprefix(prefix): value for key, value in state_dict.items()}


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], registry: Registry, *, where: str = "weights"
) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes, then apply every registered converter in name order."""
    converted = strip_wrapper_prefixes(state_dict)
    for entry in registry.entries("converter"):
        try:
            converted = dict(entry.obj(converted))
        except Exception as exc:  # a plugin's bug: say whose it is, not a bare traceback from deep inside
            raise WeightsError(
                f"{where}: converter {entry.name!r} of plugin {entry.plugin!r} ({entry.distribution}) failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return converted
