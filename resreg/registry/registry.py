"""The registry: every named component resreg can build, by kind and name, filled by plugins.

Each plugin's `resreg_register(registry)` hook is handed a `Registrar(registry, provider)` bound to it;
an entry remembers its provider and the schema of its arguments (see `resreg.schema`), so the CLI, the
docs and the validator can all show and check them. A spec names an entry by `type:`: `"bottleneck"`
or `{"type": "bottleneck", "groups": 32}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from resreg.errors import ConfigError, RegistryError, did_you_mean
from resreg.registry.contract import check_entry
from resreg.registry.entry import UNATTRIBUTED, BrokenComponent, Entry, Provider
from resreg.registry.factory import Factory, make_factory
from resreg.registry.kinds import DEFAULT_KINDS
from resreg.registry.names import Refused, claim
from resreg.registry.presets import PRESET_INFO_KEYS
from resreg.schema import Param, accepts_any_keyword, check_value, params_of


class Registry:
    """All components by kind and name."""

    def __init__(self, kinds: Mapping[str, str] = DEFAULT_KINDS) -> None:
        self.kinds: dict[str, str] = dict(kinds)
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in self.kinds}
        self._contested: dict[str, dict[str, str]] = {kind: {} for kind in self.kinds}
        #: entries plugins registered that were not taken (names, contracts), in the order refused
        self.refusals: list[Refused] = []

    # --- filling --------------------------------------------------------------------------------
    def add_kind(self, kind: str, help: str) -> None:
        """Add a new kind of component (for plugins that bring a new extension point)."""
        if kind not in self.kinds:
            self.kinds[kind] = help
            self._entries[kind], self._contested[kind] = {}, {}

    def register(
        self, kind: str, name: str, obj: Any, *, provider: Provider = UNATTRIBUTED, help: str | None = None,
        replace: bool = False,
    ) -> Any:  # fmt: skip
        """Register `obj` as `kind` `name` for `provider` and return it; raise `Refused` (a `RegistryError`)
        for an entry that may not have the name (see names.py) or breaks its kind's contract (contract.py).

        `obj` is a class, a function, for presets a spec mapping, or an import path `"package.module:attr"`:
        imported when first built or inspected, so registering it (and `resreg list`) does not import it.
        """
        entries = self._entries_of(kind)
        if isinstance(obj, str) and ":" not in obj:
            message = f"{kind} {name!r} of {provider}: an import path is 'package.module:attr', got {obj!r}"
            raise Refused(message, (provider.plugin,))
        entry = Entry(kind, name, obj, provider, help=help, check=check_entry)
        if entry.loaded:
            try:
                check_entry(entry, obj)
            except BrokenComponent as exc:
                raise Refused(f"{kind} {name!r} of {provider} refused: {exc.reason}", (provider.plugin,)) from None
        self.refusals += claim(entries, entry, replace=replace, contested=self._contested[kind])
        return obj

    def remove_plugin(self, plugin: str) -> None:
        """Drop what one plugin registered (used when its registration fails half way); a built-in it
        replaced gets its name back."""
        for entries in self._entries.values():
            for name, entry in [(n, e) for n, e in entries.items() if e.plugin == plugin]:
                if entry.replaces is not None:
                    entries[name] = entry.replaces
                else:
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

    # --- presets --------------------------------------------------------------------------------
    def expand_preset_chain(
        self, kind: str, spec: Mapping[str, Any], where: str, merge: Callable[[Mapping, Mapping], dict]
    ) -> dict[str, Any]:
        """Follow `preset:` through the presets of `kind` (models, recipes): each preset's values, less
        its `PRESET_INFO_KEYS`, go under the values already given (`merge(base, top)`), until no `preset:`
        is left. An unknown name, a cycle or a preset that is not a mapping is a one-line ConfigError."""
        spec, seen = dict(spec), []
        while "preset" in spec:
            name = spec.pop("preset")
            if name in seen:
                raise ConfigError(f"{where}: {kind} preset cycle {' -> '.join([*seen, name])}")
            seen.append(name)
            try:
                entry = self.get(kind, name)
                preset = entry.obj
            except RegistryError as exc:
                raise ConfigError(f"{where}.preset: {exc}") from None
            if not isinstance(preset, Mapping):
                raise ConfigError(f"{where}.preset: {kind} {name!r} of plugin {entry.plugin!r} is not a preset mapping")
            spec = merge({k: v for k, v in preset.items() if k not in PRESET_INFO_KEYS}, spec)
        return spec

    # --- specs ----------------------------------------------------------------------------------
    def validate(self, kind: str, spec: Any, where: str = "") -> tuple[Entry, dict[str, Any]]:
        """Check a spec of `kind` and every nested spec in it; return the entry and its arguments.

        `where` is the key path for messages (`model.block`); errors raise `ConfigError`.
        """
        try:
            name, args = split_spec(spec, kind, where)
        except ConfigError as exc:  # `data.limit=256` with no data set named: say which names there are
            raise ConfigError(f"{exc} (known: {', '.join(self.names(kind)) or 'none'})") from None
        try:
            entry = self.get(kind, name)
            if not entry.is_factory:
                raise ConfigError(f"{_at(where)}{kind} {name!r} is a preset, not a component with arguments")
            params, open_keywords = entry.params, entry.open_keywords
        except RegistryError as exc:  # unknown, or broken: a failed import or a contract its plugin breaks
            raise ConfigError(_at(where) + str(exc)) from exc
        self._check(params, open_keywords, args, where, f"{kind} {name!r}")
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
                named = f"argument {str(key)!r}"  # the component follows the key, which may itself hold " ("
                raise ConfigError(_at(key_where) + message.replace(named, f"{named} of {what}"))
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

    def partial(self, kind: str, spec: Any, where: str = "") -> Factory:
        """The factory of a validated spec with its spec arguments bound; call it with the builder's.

        A nested spec argument (annotated `ref(kind)`, e.g. a block's `attn`) is bound as a factory
        too, so a component never needs the registry: `Bottleneck(..., attn=<se factory>)`. Errors the
        component raises name `where` (see factory.py).
        """
        entry, args = self.validate(kind, spec, where)
        for key, value in args.items():
            nested = entry.params[key].kind_ref if key in entry.params else None
            if nested is not None and value is not None:
                args[key] = self.partial(nested, value, f"{where}.{key}" if where else key)
        return make_factory(entry, where, args)

    def build(self, kind: str, spec: Any, *args: Any, where: str = "", **kwargs: Any) -> Any:
        """Validate `spec` and call its factory with the builder-supplied `args` and `kwargs`."""
        return self.partial(kind, spec, where)(*args, **kwargs)


def split_spec(spec: Any, kind: str, where: str = "") -> tuple[str, dict[str, Any]]:
    """`"name"` or `{"type": "name", **args}` -> `("name", args)`."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("type"), str):
        return spec["type"], {k: v for k, v in spec.items() if k != "type"}
    raise ConfigError(f"{_at(where)}a {kind} spec is a name or a mapping with 'type:', got {spec!r}")


def _at(where: str) -> str:
    return f"{where}: " if where else ""
