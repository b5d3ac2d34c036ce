"""The registry: every named component resreg can build, filled by plugins.

A plugin's `resreg_register(registry)` hook calls `registry.register(kind, name, obj)`. The entry
remembers which plugin registered it and the schema of its arguments (see `resreg.schema`), so the
CLI, the docs and the validator can all show and check them. A spec names an entry by `type:`:
`"bottleneck"` or `{"type": "bottleneck", "groups": 32}`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from resreg.errors import ConfigError, RegistryError, did_you_mean
from resreg.schema import Param, accepts_any_keyword, check_value, params_of

#: kind -> what it holds. Plugins may add kinds with `Registry.add_kind`.
DEFAULT_KINDS: dict[str, str] = {
    "stem": "the first layers of a network, before the stages",
    "block": "a residual (or plain) block: one unit of a stage",
    "shortcut": "the identity path of a residual block",
    "head": "what follows the last stage: classifier or features",
    "builder": "a model family builder: turns a spec into a torch.nn.Module",
    "model": "a named model preset: a declarative spec for a builder",
    "recipe": "a training recipe: optimiser, schedule, augmentation and defaults of a paper",
    "dataset": "a data source",
    "combiner": "how an ensemble combines its members' outputs",
    "converter": "a weight converter: renames or reshapes foreign state-dict keys",
}


@dataclass
class Entry:
    """One registered component."""

    kind: str
    name: str
    obj: Any
    plugin: str = "?"
    distribution: str = "?"
    help: str = ""
    params: dict[str, Param] = field(default_factory=dict)
    open_keywords: bool = False  # the factory takes **kwargs: any key is accepted

    @property
    def is_factory(self) -> bool:
        return callable(self.obj) and not isinstance(self.obj, Mapping)


class Registry:
    """All components by kind and name."""

    def __init__(self, kinds: Mapping[str, str] = DEFAULT_KINDS) -> None:
        self.kinds: dict[str, str] = dict(kinds)
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in self.kinds}
        self._plugin = ("?", "?")  # who is registering now (set by the plugin manager)

    # --- filling --------------------------------------------------------------------------------
    def add_kind(self, kind: str, help: str) -> None:
        """Add a new kind of component (for plugins that bring a new extension point)."""
        if kind not in self.kinds:
            self.kinds[kind] = help
            self._entries[kind] = {}

    def register(self, kind: str, name: str, obj: Any, *, help: str | None = None) -> Any:
        """Register `obj` (a class, a function, or for `model` presets a spec mapping) as `kind` `name`.

        Returns `obj`, so it can be used as a decorator helper. Registering a taken name raises
        `RegistryError` naming both plugins.
        """
        entries = self._entries_of(kind)
        plugin, distribution = self._plugin
        if name in entries:
            first = entries[name]
            raise RegistryError(
                f"{kind} {name!r} registered twice: by plugin {first.plugin!r} ({first.distribution}) "
                f"and by plugin {plugin!r} ({distribution}); disable one with RESREG_DISABLE_PLUGINS"
            )
        is_factory = callable(obj) and not isinstance(obj, Mapping)
        doc = help if help is not None else _first_line(inspect.getdoc(obj) if is_factory else "")
        if not is_factory and isinstance(obj, Mapping):
            doc = help or str(obj.get("help", ""))
        entries[name] = Entry(
            kind,
            name,
            obj,
            plugin,
            distribution,
            doc,
            params_of(obj) if is_factory else {},
            accepts_any_keyword(obj) if is_factory else False,
        )
        return obj

    @contextlib.contextmanager
    def registering_for(self, plugin: str, distribution: str) -> Iterator[None]:
        """Attribute every `register` inside the block to `plugin` (used by the plugin manager)."""
        before = self._plugin
        self._plugin = (plugin, distribution)
        try:
            yield
        finally:
            self._plugin = before

    def remove_plugin(self, plugin: str) -> None:
        """Drop what one plugin registered (used when its registration fails half way)."""
        for entries in self._entries.values():
            for name in [n for n, e in entries.items() if e.plugin == plugin]:
                del entries[name]

    # --- reading --------------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._entries_of(kind))

    def entries(self, kind: str) -> list[Entry]:
        return [self._entries_of(kind)[n] for n in self.names(kind)]

    def all_entries(self) -> Iterator[Entry]:
        for kind in self.kinds:
            yield from self.entries(kind)

    def __contains__(self, kind_and_name: tuple[str, str]) -> bool:
        kind, name = kind_and_name
        return name in self._entries.get(kind, {})

    def get(self, kind: str, name: str, *, where: str = "") -> Entry:
        """The entry, or a `RegistryError` that suggests the closest names and lists the known ones."""
        entries = self._entries_of(kind)
        if not isinstance(name, str) or name not in entries:
            raise RegistryError(_at(where) + did_you_mean(str(name), entries, kind))
        return entries[name]

    def _entries_of(self, kind: str) -> dict[str, Entry]:
        if kind not in self._entries:
            raise RegistryError(did_you_mean(kind, self.kinds, "kind"))
        return self._entries[kind]

    # --- specs ----------------------------------------------------------------------------------
    def validate(self, kind: str, spec: Any, where: str = "") -> tuple[Entry, dict[str, Any]]:
        """Check a spec of `kind` and every nested spec in it; return the entry and its arguments.

        `where` is the key path for messages (`model.block`); errors raise `ConfigError`.
        """
        name, args = split_spec(spec, kind, where)
        try:
            entry = self.get(kind, name)
        except RegistryError as exc:
            raise ConfigError(_at(where) + str(exc)) from None
        if not entry.is_factory:
            raise ConfigError(f"{_at(where)}{kind} {name!r} is a preset, not a component with arguments")
        self._check(entry.params, entry.open_keywords, args, where, f"{kind} {name!r}")
        return entry, args

    def check_args(self, factory: Any, args: Any, where: str, what: str) -> None:
        """Check a mapping of arguments against the keyword-only parameters of `factory`."""
        if not isinstance(args, Mapping):
            raise ConfigError(f"{_at(where)}{what}s are a mapping, got {args!r}")
        self._check(params_of(factory), accepts_any_keyword(factory), dict(args), where, what)

    def _check(
        self, params: dict[str, Param], open_keywords: bool, args: dict[str, Any], where: str, what: str
    ) -> None:
        for key, value in args.items():
            param = params.get(key)
            key_where = f"{where}.{key}" if where else str(key)
            if param is None:
                if open_keywords:
                    continue
                message = did_you_mean(str(key), params, "argument").replace("known:", "valid:")
                raise ConfigError(_at(key_where) + message.replace(" (", f" of {what} (", 1))
            nested = param.kind_ref
            if nested is not None:
                if value is not None:
                    self.validate(nested, value, key_where)
            elif not check_value(value, param.annotation):
                raise ConfigError(
                    f"{_at(key_where)}{value!r} is not a valid {param.type_name()} "
                    f"(argument of {what}; default {param.default_repr()})"
                )
        missing = [p.name for p in params.values() if p.required and p.name not in args]
        if missing:
            raise ConfigError(f"{_at(where)}{what} needs {', '.join(missing)}")

    def partial(self, kind: str, spec: Any, where: str = "") -> Callable[..., Any]:
        """The factory of a validated spec with its spec arguments bound; call it with the builder's."""
        entry, args = self.validate(kind, spec, where)
        return functools.partial(entry.obj, **args)

    def build(self, kind: str, spec: Any, *args: Any, where: str = "", **kwargs: Any) -> Any:
        """Validate `spec` and call its factory with the builder-supplied `args` and `kwargs`."""
        return self.partial(kind, spec, where)(*args, **kwargs)


_ACTIVE: contextvars.ContextVar[Registry | None] = contextvars.ContextVar("resreg_active_registry", default=None)


@contextlib.contextmanager
def building_with(registry: Registry) -> Iterator[Registry]:
    """Make `registry` the one `current_registry()` returns while a model is built from it."""
    token = _ACTIVE.set(registry)
    try:
        yield registry
    finally:
        _ACTIVE.reset(token)


def current_registry() -> Registry:
    """The registry a builder should resolve its nested specs (blocks, stems, ...) in.

    `create_model` builds inside `building_with(registry)`, so a builder called with a custom
    registry sees that one; elsewhere it is the registry every installed plugin filled.
    """
    active = _ACTIVE.get()
    if active is not None:
        return active
    from resreg.plugins import get_registry

    return get_registry()


def split_spec(spec: Any, kind: str, where: str = "") -> tuple[str, dict[str, Any]]:
    """`"name"` or `{"type": "name", **args}` -> `("name", args)`."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("type"), str):
        return spec["type"], {k: v for k, v in spec.items() if k != "type"}
    raise ConfigError(f"{_at(where)}a {kind} spec is a name or a mapping with 'type:', got {spec!r}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]
