"""The factory of a validated spec: its arguments bound, its errors located, what it builds marked.

`Registry.partial` returns one. Calling it calls the component with the builder's arguments, and

- a `ConfigError` raised inside the component's own code gets the spec path it came from
  (`block.attn: ...`, which the model builder turns into `model.block.attn: ...`), and any other
  exception a note saying which component of which plugin was being built;
- the module it returns is marked with its `Origin` (kind, name, plugin), so a builder can tell
  resreg's own modules from a plugin's: `resreg.blocks.init_weights` initialises only the former.
"""

from __future__ import annotations

import functools
from typing import Any

from resreg.errors import ConfigError
from resreg.registry.entry import Entry, Origin

#: the attribute a built module carries its `Origin` in
ORIGIN_ATTRIBUTE = "resreg_origin"


class Factory(functools.partial):
    """`functools.partial(component, **spec_arguments)` that locates its errors and marks what it builds."""

    entry: Entry
    where: str

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        try:
            made = super().__call__(*args, **kwargs)
        except ConfigError as exc:
            message = str(exc)
            if not self.where or message.startswith((f"{self.where}:", f"{self.where}.")):  # located already
                raise
            raise ConfigError(f"{self.where}: {message}") from exc
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+: the traceback says which component was being built
                exc.add_note(f"while building {self.where or self.entry.kind}: {self.entry.kind} {self.entry.name!r} "
                             f"of {self.entry.provider}")  # fmt: skip
            raise
        if callable(getattr(made, "modules", None)):  # a torch module: it can say where it came from
            mark_origin(made, self.entry.origin)
        return made


def make_factory(entry: Entry, where: str, args: dict[str, Any]) -> Factory:
    factory = Factory(entry.obj, **args)
    factory.entry, factory.where = entry, where
    return factory


def mark_origin(module: Any, origin: Origin) -> None:
    """Record what `module` was built from (kept by deepcopy and pickling; not part of the state dict)."""
    module.__dict__.setdefault(ORIGIN_ATTRIBUTE, origin)


def origin_of(module: Any) -> Origin | None:
    """The `Origin` the registry marked `module` with, or None for a module no registry factory returned."""
    return module.__dict__.get(ORIGIN_ATTRIBUTE) if hasattr(module, "__dict__") else None
