"""Built-in plugin: ensembles as models (the `ensemble` builder) and their combiners."""

from __future__ import annotations

import resreg
from resreg.registry import Registrar


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    # By import path: registering (and `resreg list`) does not import torch.
    registry.register("builder", "ensemble", f"{__name__}.model:ensemble")
    for name in ("mean_logits", "mean_probs", "weighted", "majority_vote"):  # combiners.COMBINERS
        registry.register("combiner", name, f"{__name__}.combiners:{name}")
