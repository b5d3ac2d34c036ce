"""Counts with units: `eval_every: 2 epochs`, `warmup: 500 steps`, or a bare number in the recipe's unit.

A recipe counts its length, milestones, warm-up and evaluation cadence in its `unit` (optimizer steps or
epochs). A bare number changes meaning with the unit, which is a trap: `train.unit=step` on the command
line would turn the quickstart's `eval_every: 1` (epoch) into an evaluation after every step. So a count
may carry its unit, and `unbound_counts` finds the bare ones that a changed unit would silently reinterpret.
"""

from __future__ import annotations

import re
from typing import Literal

from resreg.errors import ConfigError

#: a count: a bare number (in the recipe's unit) or a string "<number> <unit>", e.g. "2 epochs"
Count = float | str

Unit = Literal["step", "epoch"]

_COUNT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(steps?|epochs?)\s*")


def parse_count(value: Count, where: str) -> tuple[float, Unit | None]:
    """(number, its unit) of a count; the unit is None for a bare number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), None
    match = _COUNT.fullmatch(str(value))
    if match is None:
        raise ConfigError(f"{where}={value!r}: a count is a number, or a number and its unit: '2 epochs', '500 steps'")
    number, unit = match.groups()
    return float(number), "epoch" if unit.startswith("epoch") else "step"


def to_steps(value: Count, unit: Unit, steps_per_epoch: int, where: str) -> int:
    """A count -> optimizer steps; a bare number counts `unit`s."""
    number, own_unit = parse_count(value, where)
    return round(number * (steps_per_epoch if (own_unit or unit) == "epoch" else 1))


def with_unit(value: Count, unit: Unit) -> str:
    """The count written with its unit ("0.3 epochs", "1 epoch"): how to restate a bare number."""
    number, own_unit = parse_count(value, "")
    return f"{number:g} {own_unit or unit}{'' if number == 1 else 's'}"
