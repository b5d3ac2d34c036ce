"""Loading a config: YAML files, `base:` inheritance, dotlist overrides, interpolation.

    base: [../_defaults.yaml, models/resnet20.yaml]   # merged in order, then this file on top
    train:
      milestones: [100, 150]      # lists always replace
      optimizer:
        _replace_: true           # replace the inherited mapping instead of merging into it
        type: adam

A mapping whose `type:` differs from the inherited one replaces it too: another type is another
schema, so the old keys would not fit (`data.type=synthetic` drops an ImageNet `data.root`).
The same rules hold for command-line overrides (`data={_replace_: true, type: synthetic}`).

`${config_dir}` in a value is the folder of the file that holds it (a run's ensemble.yaml names its
snapshots so, and keeps working when the run directory moves); other `${...}` are OmegaConf
interpolations (`${oc.env:IMAGENET,data/imagenet}`).

A config argument is a path, or the name of a config shipped with resreg (`cifar10/resnet20`).
Configs are data: nothing in them is ever imported or executed; `_target_` keys are refused. Each
file is read within limits (`resreg.yaml_file`: 1 MiB, aliases expanding to 100,000 values).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from resreg.errors import ConfigError, did_you_mean
from resreg.yaml_file import read_yaml, yaml_value

REPLACE_KEY = "_replace_"
CONFIG_DIR = "${config_dir}"
SHIPPED_PACKAGE = "resreg_configs"


def shipped_configs_root() -> Path:
    """The folder of the configs installed with resreg (the repository's `configs/`)."""
    return Path(str(importlib.resources.files(SHIPPED_PACKAGE)))


def list_shipped_configs() -> list[str]:
    """Names of the shipped configs (`quickstart`, `cifar10/resnet20`, ...); files starting with `_` are parts."""
    root = shipped_configs_root()
    return sorted(
        p.relative_to(root).with_suffix("").as_posix()
        for p in root.rglob("*.yaml")
        if not any(part.startswith("_") for part in p.relative_to(root).parts)
    )


def find_config(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """A config file: a path (relative to `relative_to` for `base:` entries), else a shipped name."""
    raw = str(name_or_path)
    candidates = [Path(raw)] if relative_to is None else [relative_to / raw]
    shipped = shipped_configs_root()
    candidates += [shipped / raw, shipped / f"{raw}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if Path(raw).suffix in (".yaml", ".yml") or ("/" in raw and Path(raw).parent.is_dir()):
        raise ConfigError(f"config file not found: {raw}" + (f" (relative to {relative_to})" if relative_to else ""))
    raise ConfigError(f"no config file {raw!r} and " + did_you_mean(raw, list_shipped_configs(), "shipped config"))


def read_config_file(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """One file with its `base:` chain merged in, interpolations left unresolved."""
    path = path.resolve()
    if path in _chain:
        raise ConfigError(f"{path}: base: cycle {' -> '.join(p.name for p in (*_chain, path))}")
    loaded = read_yaml(path)  # a config may come from anyone: read within limits (size, aliases)
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config is a mapping of sections, got {type(loaded).__name__}")
    _refuse_code(loaded, str(path))
    loaded = _with_config_dir(loaded, path.parent.as_posix())
    bases = loaded.pop("base", None) or []
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: base: must be a file name or a list of them, got {bases!r}")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = merge(merged, read_config_file(find_config(base, path.parent), (*_chain, path)))
    return merge(merged, _expand_shorthands(loaded))


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of plain mappings: `top` wins; lists replace; `_replace_: true` or another `type:`
    replaces a mapping."""
    out = dict(base)
    for key, value in top.items():
        out[key] = merge_value(out.get(key), value)
    return out


def merge_value(old: Any, new: Any) -> Any:
    """`new` on top of `old`: mappings merge unless `new` says `_replace_: true` or names another `type:`."""
    if isinstance(new, Mapping) and isinstance(old, Mapping) and not replaces(old, new):
        return merge(old, new)
    return strip_replace_markers(new)


def replaces(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether mapping `new` replaces `old` instead of merging into it."""
    return bool(new.get(REPLACE_KEY)) or ("type" in new and "type" in old and new["type"] != old["type"])


def strip_replace_markers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: strip_replace_markers(v) for k, v in value.items() if k != REPLACE_KEY}
    if isinstance(value, list):
        return [strip_replace_markers(v) for v in value]
    return value


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `a.b=value` overrides (values are YAML: `[2,2,2]`, `0.05`, `null`, `{type: adam}`).

    A mapping value merges into a mapping already there (unless it says `_replace_: true` or names
    another `type:`); anything else replaces what was there. `a.type=other` replaces the whole `a`.
    """
    config = dict(config)
    for override in overrides:
        config = _expand_shorthands(config)  # `data=cifar10` then `data.limit=100` merges into {type: cifar10}
        key, sep, raw = override.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(part.isidentifier() for part in parts):
            raise ConfigError(f"override {override!r} is not KEY=VALUE with a dotted KEY (e.g. train.lr=0.05)")
        try:
            value = yaml_value(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"override {override!r}: value is not valid YAML: {problem}") from None
        _refuse_code({parts[-1]: value}, f"override {override!r}")
        data_before = config.get("data")  # the walk below copies the mappings it enters; this one stays
        node = config
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, Mapping):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"override {override!r}: {where} is {child!r}, not a mapping")
            node[part] = child = dict(child)
            node = child
        if parts[-1] == "type" and len(parts) > 1 and node.get("type", value) != value:
            node.clear()  # another type is another schema: the section's other keys go (node is a copy)
        node[parts[-1]] = merge_value(node.get(parts[-1]), value)
        if parts[0] == "data" and not (isinstance(value, Mapping) and value.get(REPLACE_KEY)):  # not if written in full
            config["data"] = _stand_in(data_before, config["data"])
    return config


def resolve_interpolations(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Resolve `${...}` interpolations (OmegaConf) and return plain containers."""
    try:
        return OmegaConf.to_container(OmegaConf.create(config), resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        message = str(exc).splitlines()[0]
        raise ConfigError(f"{source}: {key + ': ' if key else ''}{message}") from None


def load_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a config (path or shipped name), merge its bases, apply overrides, resolve interpolations.

    Returns plain dicts and lists. Validation against the registry is `resreg.config.validate_config`.
    """
    path = find_config(name_or_path)
    config = apply_overrides(read_config_file(path), overrides)
    return resolve_interpolations(config, str(name_or_path))


#: `model: resnet20` is short for `model: {preset: resnet20}`, `train: fast` for `train: {preset: fast}`;
#: `data: cifar10` for `data: {type: cifar10}`.
_SHORTHAND_KEY = {"model": "preset", "data": "type", "train": "preset"}


#: the data set that stands in for any other (random images), and what it keeps of the one it replaces
STAND_IN, STAND_IN_KEEPS = "synthetic", ("image_size", "in_chans", "num_classes")


def _stand_in(before: Any, after: Any) -> Any:
    """The data section `after` an override; when the override made data set `before` `synthetic`, it
    records which one it stands in for (`like`) and that section's shape keys, so the random images
    have the shape of the data they replace (`resreg train resnet152 data.type=synthetic`: 224 pixels)."""
    old, new = ({"type": s} if isinstance(s, str) else s for s in (before, after))  # `data: cifar10` shorthands
    if not isinstance(old, Mapping) or not isinstance(new, Mapping) or "like" in new:
        return after
    if new.get("type") != STAND_IN or old.get("type") in (None, STAND_IN):
        return after
    return {"type": STAND_IN, "like": old["type"], **{k: old[k] for k in STAND_IN_KEEPS if k in old}, **new}


def _expand_shorthands(config: dict[str, Any]) -> dict[str, Any]:
    """Turn section names into mappings, so overrides like `model.depths=[2,2,2]` can merge into them."""
    out = dict(config)
    for section, key in _SHORTHAND_KEY.items():
        if isinstance(out.get(section), str):
            out[section] = {key: out[section]}
    return out


def _with_config_dir(node: Any, folder: str) -> Any:
    """Every `${config_dir}` in the strings of `node` replaced by `folder`."""
    if isinstance(node, str):
        return node.replace(CONFIG_DIR, folder)
    if isinstance(node, Mapping):
        return {k: _with_config_dir(v, folder) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_config_dir(v, folder) for v in node]
    return node


def _refuse_code(node: Any, where: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("_target_", "_partial_", "_callable_"):
                raise ConfigError(f"{where}: {key!r} is not allowed: resreg configs are data and never import code")
            _refuse_code(value, where)
    elif isinstance(node, list):
        for value in node:
            _refuse_code(value, where)
