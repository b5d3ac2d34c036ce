"""From a RunConfig to the parts of a run: its data set and its model.

Training (resreg.engine.run), the checks before `--nproc` (resreg.engine.launch) and `resreg eval`
(resreg.engine.evaluate.evaluate_config) build through these, so a model is evaluated as it was
trained. None of them parses a section again: they read what `validate_config` parsed.
"""

from __future__ import annotations

from typing import Any

import torch

from resreg.config.run_config import RunConfig
from resreg.models import create_model
from resreg.registry import Registry


def build_data(config: RunConfig, registry: Registry) -> Any:
    """The DataSource of `data:` (validation already added the recipe's val_split where the spec left it unset)."""
    return registry.build("dataset", config.require_data(registry), where="data")


def build_model(config: RunConfig, data: Any, registry: Registry) -> torch.nn.Module:
    """The config's model with a classifier for `data`'s classes and a stem for its channels, and the
    weights its `pretrained:` key names, if any."""
    return create_model(config.require_model(), num_classes=data.num_classes, in_chans=data.in_chans, registry=registry)
