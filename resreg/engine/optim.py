"""The optimizer of a recipe: any of timm's by name (timm.optim.create_optimizer_v2), with the lr the
recipe scales to its batch and, for `no_weight_decay_on`, a parameter group without weight decay."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import torch
from timm.optim import create_optimizer_v2

from resreg.recipe import Recipe

#: the layers whose weights `no_weight_decay_on: [norm]` exempts: a scale of normalised activations, which
#: weight decay would only shrink towards 0 (Bag of Tricks, section 3.1; timm exempts every 1-d parameter)
NORM_LAYERS = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)


def parameter_groups(model: torch.nn.Module, weight_decay: float, exempt: Collection[str]) -> list[dict[str, Any]]:
    """The trainable parameters in two groups: the `exempt` kinds (bias, norm) without weight decay, the others with."""
    norms = {id(p) for m in model.modules() if isinstance(m, NORM_LAYERS) for p in m.parameters(recurse=False)}
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        free = ("bias" in exempt and name.endswith(".bias")) or ("norm" in exempt and id(param) in norms)
        (no_decay if free else decay).append(param)
    groups = [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
    return [g for g in groups if g["params"]]


def build_optimizer(recipe: Recipe, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The recipe's optimizer over `model`'s parameters, at the recipe's (scaled) lr."""
    # timm's "sgd" is Nesterov's; resreg's sgd follows the recipe's `nesterov` flag (the ResNet papers: off).
    name = ("nesterov" if recipe.nesterov else "momentum") if recipe.optimizer == "sgd" else recipe.optimizer
    if recipe.no_weight_decay_on:
        params: Any = parameter_groups(model, recipe.weight_decay, recipe.no_weight_decay_on)
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    return create_optimizer_v2(
        params,
        opt=name,
        lr=recipe.scaled_lr()[0],
        weight_decay=recipe.weight_decay,
        momentum=recipe.momentum,
        filter_bias_and_bn=False,  # the groups above are the recipe's choice, not timm's default
    )
