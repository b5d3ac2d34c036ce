"""The registry: every named component resreg can build, filled by plugins.

A plugin's `resreg_register(registry)` hook calls `registry.register(kind, name, obj)`. The entry
remembers which plugin registered it and the schema of its arguments (see `resreg.schema`), so the
CLI, the docs and the validator can all show and check them. A spec names an entry by `type:`:
`"bottleneck"` or `{"type": "bottleneck", "groups": 32}`.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.machinery
import importlib.resources
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from resreg.errors import ConfigError, RegistryError, did_you_mean
from resreg.schema import Param, accepts_any_keyword, check_value, params_of

#: keys of a preset (model or recipe) that describe it, for `resreg list -v` and the model zoo, and are
#: not values of what it builds: `help` (one line) and `meta` (`{paper: "He et al. 2015", paper_error: 8.75}`).
PRESET_INFO_KEYS = ("help", "meta")

#: kind -> what it holds. Plugins may add kinds with `Registry.add_kind`.
DEFAULT_KINDS: dict[str, str] = {
    "stem": "the first layers of a network, before the stages",
    "block": "a residual (or plain) block: one unit of a stage",
    "shortcut": "the identity path of a residual block",
    "head": "what follows the last stage: classifier or features",
    "attn": "attention on a block's residual branch (channels -> module), e.g. squeeze-and-excitation",
    "builder": "a model family builder: turns a spec into a torch.nn.Module",
    "model": "a named model preset: a declarative spec for a builder",
    "recipe": "a training recipe: optimiser, schedule, augmentation and defaults of a paper",
    "dataset": "a data source",
    "combiner": "how an ensemble combines its members' outputs",
    "converter": "a weight converter: renames or reshapes foreign state-dict keys",
}


class Entry:
    """One registered component: a class, a function, a preset mapping, or the import path of one.

    An import path (`"package.module:attr"`) is imported the first time the entry is built or its
    schema is read, so a plugin registers without importing torch and `resreg list` stays fast; its
    help line is read from the source without importing it.
    """

    def __init__(self, kind: str, name: str, obj: Any, plugin: str = "?", distribution: str = "?",
                 help: str | None = None) -> None:  # fmt: skip
        self.kind, self.name, self.plugin, self.distribution = kind, name, plugin, distribution
        self.target = obj if isinstance(obj, str) else None
        self._obj = None if isinstance(obj, str) else obj
        self._help = help

    def __repr__(self) -> str:
        return f"Entry({self.kind!r}, {self.name!r}, plugin={self.plugin!r})"

    @property
    def loaded(self) -> bool:
        """Whether the component itself is imported (always, unless registered by import path)."""
        return self._obj is not None

    @property
    def obj(self) -> Any:
        """The component, imported on first use when it was registered by import path."""
        if self._obj is None:
            self._obj = import_target(self.target, f"{self.kind} {self.name!r} of plugin {self.plugin!r}")
        return self._obj

    @property
    def is_factory(self) -> bool:
        return self.target is not None or (callable(self._obj) and not isinstance(self._obj, Mapping))

    @functools.cached_property
    def help(self) -> str:
        if self._help is not None:
            return self._help
        if isinstance(self._obj, Mapping):
            return str(self._obj.get("help", ""))
        doc = static_docstring(self.target) if self._obj is None else None
        return _first_line(doc if doc is not None else inspect.getdoc(self.obj))

    @functools.cached_property
    def params(self) -> dict[str, Param]:
        """The settable arguments (see `resreg.schema`); reading them imports a lazy component."""
        return params_of(self.obj) if self.is_factory else {}

    @functools.cached_property
    def open_keywords(self) -> bool:
        """The factory takes **kwargs: any key is accepted."""
        return accepts_any_keyword(self.obj) if self.is_factory else False


def import_target(target: str, what: str) -> Any:
    """`"package.module:attr"` -> the attribute; a failure is a `RegistryError` naming the component."""
    module_name, _, attr = target.partition(":")
    try:
        return functools.reduce(getattr, attr.split("."), importlib.import_module(module_name))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a plugin's module must not take the host down (issue 11)
        raise RegistryError(f"{what}: cannot import {target}: {type(exc).__name__}: {exc}") from None


def static_docstring(target: str) -> str | None:
    """The docstring of a top-level class or function named by `"package.module:attr"`, read from its
    source without importing the module or its parent packages. None when it cannot be."""
    module_name, _, attr = target.partition(":")
    try:
        path = _source_path(module_name)
        source = Path(path).read_text(encoding="utf-8") if path else None
    except (ImportError, ValueError, OSError):
        return None
    if source is None:
        return None
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == attr:
            return ast.get_docstring(node) or ""
    return None


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

        `obj` may also be an import path, `"package.module:attr"`: the component is imported when first
        built or inspected, so registering it (and `resreg list`) does not import its module.

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
        if isinstance(obj, str) and ":" not in obj:
            raise RegistryError(f"{kind} {name!r}: an import path is 'package.module:attr', got {obj!r}")
        entries[name] = Entry(kind, name, obj, plugin, distribution, help)
        return obj

    def register_presets(self, kind: str, package: str, filename: str = "presets.yaml") -> None:
        """Register every preset of a YAML file shipped in `package` (see `read_presets`) as `kind`.

        How the built-in plugins declare their model and recipe presets beside their code:
        `registry.register_presets("model", __package__)`.
        """
        for name, spec in read_presets(package, filename).items():
            self.register(kind, name, spec)

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
            except RegistryError as exc:
                raise ConfigError(f"{where}.preset: {exc}") from None
            if not isinstance(entry.obj, Mapping):
                raise ConfigError(f"{where}.preset: {kind} {name!r} of plugin {entry.plugin!r} is not a preset mapping")
            spec = merge({k: v for k, v in entry.obj.items() if k not in PRESET_INFO_KEYS}, spec)
        return spec

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
        """The factory of a validated spec with its spec arguments bound; call it with the builder's.

        A nested spec argument (annotated `ref(kind)`, e.g. a block's `attn`) is bound as a factory
        too, so a component never needs the registry: `Bottleneck(..., attn=<se factory>)`.
        """
        entry, args = self.validate(kind, spec, where)
        for key, value in args.items():
            nested = entry.params[key].kind_ref if key in entry.params else None
            if nested is not None and value is not None:
                args[key] = self.partial(nested, value, f"{where}.{key}" if where else key)
        return functools.partial(entry.obj, **args)

    def build(self, kind: str, spec: Any, *args: Any, where: str = "", **kwargs: Any) -> Any:
        """Validate `spec` and call its factory with the builder-supplied `args` and `kwargs`."""
        return self.partial(kind, spec, where)(*args, **kwargs)

    def build_model(self, spec: Any, where: str = "model") -> Any:
        """Call a builder with its validated arguments as written, nested specs included.

        A builder that declares a positional-only `registry` parameter (`def resnet(registry, /, *, ...)`)
        is handed this registry, to build its components from; that is how a custom registry reaches them.
        """
        entry, args = self.validate("builder", spec, where)
        return entry.obj(self, **args) if takes_registry(entry.obj) else entry.obj(**args)


def takes_registry(builder: Any) -> bool:
    """Whether a builder's first parameter is a positional `registry`."""
    target = builder.__init__ if inspect.isclass(builder) else builder
    parameters = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    return bool(parameters) and parameters[0].name == "registry" and parameters[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    )  # fmt: skip


def _source_path(module_name: str) -> str | None:
    """The source file of a module, found package by package without importing any of them (finding
    `resreg_plugins.datasets.mnist` with `importlib.util.find_spec` would import `resreg_plugins.datasets`,
    and with it torch)."""
    if module_name in sys.modules:
        return getattr(sys.modules[module_name], "__file__", None)
    top, *rest = module_name.split(".")
    spec = importlib.util.find_spec(top)
    for part in rest:
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(f"{spec.name}.{part}", list(spec.submodule_search_locations))
    return spec.origin if spec is not None else None


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


def read_presets(package: str, filename: str = "presets.yaml") -> dict[str, dict[str, Any]]:
    """The presets of a YAML file shipped in `package`: name -> spec; keys starting with `_` are YAML
    anchors shared by the presets (`_bottleneck: &bottleneck {...}`), not presets."""
    text = importlib.resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    presets = yaml.safe_load(text) or {}
    if not isinstance(presets, Mapping):
        kind = type(presets).__name__
        raise RegistryError(f"{package}/{filename}: presets are a mapping of name -> spec, got a {kind}")
    return {name: spec for name, spec in presets.items() if not str(name).startswith("_")}
