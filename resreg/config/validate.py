"""Validating a loaded config against the registry before anything is built, and completing it.

Sections: `model` (a preset name, `{preset: ..., overrides}` or `{type: builder, ...}`), `data` (a
dataset spec), `train` (a recipe preset and its changes), `engine` and `eval` (fixed options of the training loop),
and `name`. Every error names the file, the key path, the bad value and what would be valid.

The validated config is a `RunConfig` (resreg.config.run_config): every section parsed once, into its
type. It is complete: the model preset expanded into its spec, and every default the recipe, the data
set and the engine and eval options would use filled in, so `resreg show` and a run's config.yaml
(`RunConfig.to_dict`) say everything the run did.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from resreg.config.model_spec import resolve_model_spec
from resreg.config.options import EngineOptions, EvalOptions
from resreg.config.run_config import RunConfig, plain
from resreg.errors import ConfigError, did_you_mean
from resreg.recipe import build_recipe, recipe_spec  # the recipe base; see pyproject's layers contract
from resreg.registry import Registry

SECTIONS = ("name", "model", "data", "train", "engine", "eval")


def validate_config(config: dict[str, Any], source: str, registry: Registry) -> RunConfig:
    """Check every section of a loaded config (`source` names it in errors); return it parsed and complete."""
    try:
        for key in config:
            if key not in SECTIONS:
                raise ConfigError(did_you_mean(str(key), SECTIONS, "config section"))
        name = config.get("name")
        if "name" in config and not isinstance(name, str):
            raise ConfigError(f"name: must be a string, got {name!r}")
        model = None
        if config.get("model") is not None:
            model = plain(resolve_model_spec(config["model"], registry, where="model"))
        recipe, recipe_preset = None, None
        if config.get("train") is not None:
            recipe = build_recipe(config["train"], registry, where="train")
            recipe_preset = recipe_spec(config["train"], recipe).get("preset")
        data = None
        if config.get("data") is not None:
            entry, _ = registry.validate("dataset", config["data"], "data")
            spec = _as_mapping(config["data"])
            # the recipe's additions (val_split) where the data set takes them and its spec leaves them unset
            extra = recipe.data_args() if recipe is not None else {}
            spec |= {k: v for k, v in extra.items() if k in entry.params and k not in spec}
            data = _with_defaults(spec, None, entry.params)
        options = {}
        for section, cls in (("engine", EngineOptions), ("eval", EvalOptions)):
            registry.check_args(cls, config.get(section) or {}, section, f"{section} option")
            options[section] = cls(**plain(config.get(section) or {}))
        if recipe is not None and options["eval"].splits is not None:
            recipe.check_eval_splits(options["eval"].splits, (data or {}).get("type", "?"))
        return RunConfig(name=name, model=model, data=data, recipe=recipe, recipe_preset=recipe_preset, **options)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def dump_config(config: RunConfig) -> str:
    """A validated config as YAML (`resreg show`): mappings as blocks, lists of plain values on one line."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
        flow = all(not isinstance(v, (list, dict)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    _Dumper.add_representer(list, represent_list)
    return yaml.dump(config.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def _as_mapping(spec: Any) -> dict[str, Any]:
    return {"type": spec} if isinstance(spec, str) else dict(spec)


def _with_defaults(spec: Any, built: Any, params: dict[str, Any]) -> dict[str, Any]:
    """`spec` with every argument its component would default, in the component's order of arguments:
    a dataclass's fields as built, else the factory's parameter defaults (those YAML can hold)."""
    spec = _as_mapping(spec)
    if dataclasses.is_dataclass(built) and not isinstance(built, type):
        values = dataclasses.asdict(built)
        defaults = {f.name: values[f.name] for f in dataclasses.fields(built) if f.init}  # what a spec can set
    else:
        defaults = {name: None if p.required else p.default for name, p in params.items()}
    complete = {"type": spec.pop("type")}
    for key, value in defaults.items():
        if key in spec:
            complete[key] = spec.pop(key)
        elif _is_plain(value) and not (key in params and params[key].required):
            complete[key] = value
    return plain(complete | spec)  # then any argument the spec adds (a factory taking **kwargs)


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return value is None or isinstance(value, (str, int, float, bool))
