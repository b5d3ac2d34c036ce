"""Readable names of a sweep's groups, for its table and its figures: what tells the grid's values apart.

An axis of scalars names each value as it was written (`train.lr=0.05`). An axis of mappings
(`model={preset: resnet20},{preset: resnet56}`) names each value by the keys in which the axis's values
differ, as dotted paths (`model.preset=resnet56`), not by a dump of the whole mapping. A value that
holds none of them (a baseline the others add to) is named by all it holds.

Labels are for people and depend on the other values of the axis. Run directories keep the names
`plan.group_name` gives them, from the config and the grid point alone, so a resumed or extended
sweep, or one sharing --runs with another, finds its runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import yaml

from resreg.sweep.grammar import value_identity
from resreg.yaml_file import yaml_value

_ABSENT = object()  # a key one value of the axis has and another lacks


def axis_labels(key: str, values: Sequence[str]) -> list[str]:
    """The label of each value of the axis `key=V1,V2,...` (values as written; distinct values get distinct labels)."""
    parsed = [yaml_value(value) for value in values]  # as apply_overrides reads them
    if not all(isinstance(value, dict) for value in parsed):
        return [f"{key}={value.strip()}" for value in values]
    # The parts of distinct values differ, so at most one value has none: it is named by all it holds.
    differences = _differences(parsed, key)
    parts = [found or _leaves(value, key) for value, found in zip(parsed, differences, strict=True)]
    return [",".join(f"{path}={text}" for path, text in part.items()) for part in parts]


def _differences(values: list[Any], path: str) -> list[dict[str, str]]:
    """For each value, `{dotted path: its text}` at every path where the values differ."""
    if len({value_identity(value) for value in values}) == 1:
        return [{} for _ in values]
    present = [value for value in values if value is not _ABSENT]
    if not all(isinstance(value, dict) and value for value in present):  # {} is a leaf: it has no keys to show
        return [{} if value is _ABSENT else {path: _text(value)} for value in values]
    found: list[dict[str, str]] = [{} for _ in values]
    for key in dict.fromkeys(key for value in present for key in value):  # first seen first, no repeats
        below = [_ABSENT if value is _ABSENT else value.get(key, _ABSENT) for value in values]
        for parts, more in zip(found, _differences(below, f"{path}.{key}"), strict=True):
            parts.update(more)
    return found


def _leaves(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        return {path: _text(value)}
    return {leaf: text for key, below in value.items() for leaf, text in _leaves(below, f"{path}.{key}").items()}


def _text(value: Any) -> str:
    """One line of YAML flow style: resnet56, 0.1, [bias, norm], 'a string that needs quotes'."""
    return yaml.safe_dump(value, default_flow_style=True, width=math.inf).removesuffix("...\n").strip()
