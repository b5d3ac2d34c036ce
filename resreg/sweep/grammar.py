"""The override grammar of a sweep: Hydra's multirun syntax, `KEY=V1,V2` is an axis, `KEY=V` applies to all.

Commas split values only outside [...], {...}, (...) and quotes, so `model.depths=[1,1,1],[2,2,2]` is two values.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from resreg.config.loader import apply_overrides
from resreg.errors import ConfigError
from resreg.yaml_file import yaml_value

SEED_KEY = "engine.seed"
_OPEN, _CLOSE = "[{(", "]})"


def split_values(override: str) -> tuple[str, list[str]]:
    """`key=v1,v2` -> (key, [v1, v2]): commas split only outside brackets and quotes."""
    key, sep, raw = override.partition("=")
    if not sep or not key or not all(part.isidentifier() for part in key.split(".")):
        raise ConfigError(f"override {override!r} is not KEY=VALUE or KEY=V1,V2 with a dotted KEY (train.lr=0.1,0.05)")
    values, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                raise ConfigError(f"override {override!r}: {char!r} closes nothing")
        elif char == "," and depth == 0:
            values.append(raw[start:i])
            start = i + 1
    if quote or depth:
        raise ConfigError(f"override {override!r}: unclosed {'quote' if quote else 'bracket'}")
    values.append(raw[start:])
    if len(values) > 1 and any(not v.strip() for v in values):
        raise ConfigError(f"override {override!r}: empty value in the list (write KEY=V1,V2,...)")
    return key, values


def parse_overrides(items: Sequence[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Split overrides into plain ones (every run) and grid axes (key, values); bad syntax is a ConfigError."""
    plain: list[str] = []
    axes: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for item in items:
        key, values = split_values(item)
        if key == SEED_KEY:
            raise ConfigError(f"override {item!r}: the sweep sets {SEED_KEY} itself; use --seeds N")
        if key in seen:
            raise ConfigError(f"override {item!r}: {key} is given twice")
        seen.add(key)
        for value in values:
            apply_overrides({}, [f"{key}={value}"])  # the value must be valid YAML: one-line error here
        same = _same_values(values)
        if same:  # the same runs twice, and the same label in the table
            raise ConfigError(f"override {item!r}: {' and '.join(same)} are the same value; give each once")
        if len(values) == 1:
            plain.append(item)
        else:
            axes.append((key, values))
    return plain, axes


def value_identity(value: Any) -> str:
    """Equal for equal values only, whatever their mappings' key order: 1, 1.0 and true differ (== says equal)."""
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{value_identity(k)}:{value_identity(v)}" for k, v in value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(value_identity, value)) + "]"
    return f"{type(value).__name__}:{value!r}"


def _same_values(values: list[str]) -> list[str]:
    """The values of an axis (as written) that mean what another one does (`0.1,0.10`; YAML as overrides read it)."""
    identities = [value_identity(yaml_value(value)) for value in values]
    return [value.strip() for value, identity in zip(values, identities, strict=True) if identities.count(identity) > 1]


def grid_points(axes: Sequence[tuple[str, list[str]]]) -> list[list[str]]:
    """Every combination of the axes' values, as override lists (one empty point without axes)."""
    return [[f"{key}={value}" for (key, _), value in zip(axes, combo, strict=True)]
            for combo in itertools.product(*(values for _, values in axes))]  # fmt: skip
