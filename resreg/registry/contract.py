"""What a component must be to be registered, checked when it is registered, not when a model is built.

A component registered as an object is checked by `Registry.register` (a violation refuses that entry
alone); one registered by import path when it is first imported (a violation marks it broken, as a
failed import does). Each check gives one line that names the component, its plugin and what to change.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from resreg.registry.entry import BrokenComponent, Entry
from resreg.schema import documented_arguments, parameter_names

#: kind -> the arguments its builders pass by position; every other parameter of a factory is a spec
#: argument and must be keyword-only (after `*`), or the schema would not show it and a spec could not set it
BUILDER_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "stem": ("in_chans",),
    "block": ("in_chs", "planes", "stride", "shortcut", "drop_path_rate"),
    "shortcut": ("in_chs", "out_chs", "stride"),
    "head": ("num_features", "num_classes"),
    "attn": ("channels",),
    "builder": ("registry",),
    "converter": ("state_dict",),
    "combiner": (),
    "dataset": (),
}

_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def contract_problem(kind: str, factory: Any) -> str | None:
    """What is wrong with `factory` as a component of `kind`, in words; None when it keeps the contract."""
    try:
        names = parameter_names(factory)
        positional = _positional_parameters(factory)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None
    passed = BUILDER_ARGUMENTS.get(kind)
    if passed is not None and len(positional) > len(passed):
        extra = positional[len(passed)]
        given = ", ".join(passed) or "nothing"
        return (
            f"parameter {extra!r} is positional, but builders pass only {given} by position; "
            f"make it keyword-only (after `*`) so that a spec can set it"
        )
    stray = [name for name in documented_arguments(factory) if name not in names]
    if stray:
        return f"its docstring's Args: documents {stray[0]!r}, which is no parameter (parameters: {', '.join(names)})"
    if kind == "block" and "zero_init_last" in names:
        return _zero_init_problem(factory)
    return None


def check_entry(entry: Entry, factory: Any) -> None:
    """Raise `BrokenComponent` naming the entry when `factory` breaks its kind's contract (`Entry`'s check)."""
    problem = contract_problem(entry.kind, factory) if entry.is_factory else None
    if problem is not None:
        raise BrokenComponent(f"{entry.kind} {entry.name!r} of {entry.provider}: {problem}", problem)


def _positional_parameters(factory: Any) -> list[str]:
    """The parameters a caller may pass by position (for a class, of its `__init__` less `self`: the signature
    of the class itself may be a metaclass's `__call__(*args, **kwargs)`, as the block template's is)."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = list(inspect.signature(factory.__init__ if inspect.isclass(factory) else factory).parameters.values())
    return [p.name for p in parameters[1 if inspect.isclass(factory) else 0 :] if p.kind in positional]


def _zero_init_problem(block: Any) -> str | None:
    """`zero_init_last` needs to know what to zero: a dotted path in `zero_init`, or a `zero_init_()` method."""
    if callable(getattr(block, "zero_init_", None)):
        return None
    path = getattr(block, "zero_init", None)
    if isinstance(path, str) and _DOTTED_PATH.fullmatch(path):
        return None
    got = "" if path is None else f" (got {path!r})"
    return (
        f"it takes zero_init_last but names nothing to zero{got}: set the class attribute `zero_init` to the "
        f"dotted path of the parameter or module whose weight starts at zero (e.g. 'bn2', 'mlp.fc2', 'gamma'), "
        f"or define a zero_init_() method"
    )
