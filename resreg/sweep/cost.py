"""What a run of a sweep costs before it trains: the model's size and the multiply-adds of its recipe."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from resreg.config import RunConfig
from resreg.registry import Registry


@dataclass
class Cost:
    """A model's size and what one run of its recipe costs."""

    params: int
    macs: int  # forward multiply-adds per image
    images: int  # training images seen by one run (optimizer steps x batch)

    @property
    def train_macs(self) -> int:
        """Forward + backward ~ 3x the forward multiply-adds, per training image (evaluation not counted)."""
        return 3 * self.macs * self.images


class Costs:
    """Cost of each config; the data sets are loaded once per distinct `data:` spec."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._data: dict[str, Any] = {}

    def __call__(self, config: RunConfig) -> Cost:
        from resreg.engine.assemble import build_data, build_model  # torch: only when costs are counted
        from resreg.summary import summarize

        registry = self._registry
        recipe = config.require_recipe(registry)
        key = json.dumps(config.data, sort_keys=True, default=str)
        if key not in self._data:
            self._data[key] = build_data(config, registry)
        data = self._data[key]
        model = build_model(config, data, registry)
        summary = summarize(model, (data.in_chans, *data.image_size))
        steps_per_epoch = max(1, len(data.train) // recipe.batch_size)  # the train loader drops a partial batch
        return Cost(summary.params, summary.macs, recipe.total_steps(steps_per_epoch) * recipe.batch_size)
