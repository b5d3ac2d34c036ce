"""A fast recipe for small data sets and quick runs (the quickstart): one short linear-decay cycle.

Not from a paper: a linear warm-up to a high lr, then a linear decay to 0 (a one-cycle schedule),
Nesterov SGD and label smoothing, which reach a good accuracy in a fraction of an epoch on
Fashion-MNIST, in the spirit of the fast CIFAR-10 trainers (airbench).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from resreg.engine.recipe import Recipe


@dataclass(kw_only=True)
class Fast(Recipe):
    """One cycle: linear warm-up then linear decay to 0, Nesterov SGD, label smoothing. See `Recipe`."""

    batch_size: int = 128
    unit: Literal["step", "epoch"] = "epoch"
    length: float = 1
    lr: float = 0.2
    nesterov: bool = True
    weight_decay: float = 5e-4
    decay: Literal["step", "cosine", "linear", "constant"] = "linear"
    warmup: float = 0.1
    label_smoothing: float = 0.1
    eval_every: float = 1
