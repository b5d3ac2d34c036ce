"""Validating a loaded config against the registry before anything is built.

Sections: `model` (a preset name, `{preset: ..., overrides}` or `{type: builder, ...}`), `data` (a
dataset spec), `train` (a recipe spec), `engine` and `eval` (fixed options of the training loop),
and `name`. Every error names the file, the key path, the bad value and what would be valid.
"""

from __future__ import annotations

from typing import Any

from resreg.errors import ConfigError, did_you_mean
from resreg.registry import Registry

SECTIONS = ("name", "model", "data", "train", "engine", "eval")


def validate_config(config: dict[str, Any], source: str, registry: Registry) -> dict[str, Any]:
    """Check every section; return the config with the model preset expanded into its full spec."""
    from resreg.engine.options import EngineOptions, EvalOptions
    from resreg.models import resolve_model_spec

    try:
        for key in config:
            if key not in SECTIONS:
                raise ConfigError(did_you_mean(str(key), SECTIONS, "config section"))
        out = dict(config)
        if "name" in out and not isinstance(out["name"], str):
            raise ConfigError(f"name: must be a string, got {out['name']!r}")
        if out.get("model") is not None:
            out["model"] = resolve_model_spec(out["model"], registry, where="model")
        if out.get("data") is not None:
            registry.validate("dataset", out["data"], "data")
        if out.get("train") is not None:
            registry.validate("recipe", out["train"], "train")
        for section, options in (("engine", EngineOptions), ("eval", EvalOptions)):
            if out.get(section) is not None:
                registry.check_args(options, out[section], section, f"{section} option")
        return out
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
