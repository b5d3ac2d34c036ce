"""The typed run config: a config's sections, each parsed once, read by everything after validation.

`resreg.config.validate_config` makes a `RunConfig` from a loaded YAML mapping; the engine (train,
evaluate, sweep, `--nproc`) reads its typed fields and parses no section again. `to_dict` gives it
back as a run directory's config.yaml holds it, complete (every default written out); validating
that mapping gives an equal `RunConfig`, so a run's config.yaml is its RunConfig without loss.

The model and data sections stay specs (mappings: what a registered component is built from); the
train, engine and eval sections are their types, `Recipe`, `EngineOptions` and `EvalOptions`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from resreg.config.options import EngineOptions, EvalOptions
from resreg.errors import ConfigError
from resreg.recipe import recipe_spec

if TYPE_CHECKING:
    from resreg.recipe import Recipe
    from resreg.registry import Registry


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """A validated config. A section the file leaves out is None (`resreg show` and `resreg eval` of a
    weights file take partial configs); training asks for its sections with `require_model()`,
    `require_data()` and `require_recipe()`, which say in one line what is missing.

    Args:
        name: the run's name (runs/<name>); None: named after the config file.
        model: the model spec, presets expanded and every argument checked (resreg.config.model_spec).
        data: the data set spec with every default written out (and the recipe's val_split).
        recipe: the `train:` section: the recipe, with its `schedule` and `augment` sections.
        recipe_preset: the recipe preset `train:` named (written back first, so config.yaml says which).
        engine: options of the training loop.
        eval: options of evaluation.
    """

    name: str | None = None
    model: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    recipe: Recipe | None = None
    recipe_preset: str | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    eval: EvalOptions = field(default_factory=EvalOptions)

    def require_model(self) -> dict[str, Any]:
        """The model spec (a copy: building a model adds its classes and channels to it)."""
        if self.model is None:
            raise ConfigError("model: missing: name a preset (model: resnet20) or a builder spec")
        return copy.deepcopy(self.model)

    def require_data(self, registry: Registry) -> dict[str, Any]:
        if self.data is None:
            raise ConfigError(f"data: missing: name a data set (known: {', '.join(registry.names('dataset'))})")
        return copy.deepcopy(self.data)

    def require_recipe(self, registry: Registry) -> Recipe:
        if self.recipe is None:
            raise ConfigError(f"train: missing: name a recipe (known: {', '.join(registry.names('recipe'))})")
        return self.recipe

    def to_dict(self) -> dict[str, Any]:
        """The config as plain YAML-ready data, sections in the order of a config file; None sections left out."""
        sections = {
            "name": self.name,
            "model": self.model,
            "data": self.data,
            "train": None if self.recipe is None else recipe_spec(self.recipe_preset, self.recipe),
            "engine": dataclasses.asdict(self.engine),
            "eval": dataclasses.asdict(self.eval),
        }
        return plain({key: value for key, value in sections.items() if value is not None})


def plain(value: Any) -> Any:
    """A deep copy with tuples as lists, so the config dumps as plain YAML and compares equal to what it loads as."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
