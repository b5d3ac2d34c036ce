"""One registered component, who provided it, and importing it when it was registered by import path."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resreg.errors import RegistryError
from resreg.schema import Param, accepts_any_keyword, params_of


class BrokenComponent(RegistryError):
    """A registered component cannot be used: its module does not import, or it breaks its kind's contract."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # the cause alone, for listings: `ModuleNotFoundError: No module named 'x'`


@dataclass(frozen=True)
class Provider:
    """Who registers: a plugin (its entry-point name), its distribution, and whether it is one of resreg's own."""

    plugin: str
    distribution: str
    builtin: bool = False

    def __str__(self) -> str:
        return f"plugin {self.plugin!r}" + (f" ({self.distribution})" if self.distribution != "?" else "")


#: registrations made on a `Registry` directly, not through a plugin's registrar (tests, scripts)
UNATTRIBUTED = Provider("?", "?")


@dataclass(frozen=True)
class Origin:
    """What a built module came from: the registry marks every component it builds with one (`origin_of`),
    so a builder can tell resreg's own modules from a plugin's (see `resreg.blocks.init_weights`)."""

    kind: str
    name: str
    provider: Provider


class Entry:
    """One registered component: a class, a function, a preset mapping, or the import path of one.

    An import path (`"package.module:attr"`) is imported the first time the entry is built or its
    schema is read, so a plugin registers without importing torch and `resreg list` stays fast; its
    help line is read from the source without importing it. An entry whose import fails is *broken*:
    it raises a `RegistryError` naming it wherever it is used, and everything else keeps working.
    """

    def __init__(
        self, kind: str, name: str, obj: Any, provider: Provider = UNATTRIBUTED, *, help: str | None = None,
        check: Callable[[Entry, Any], None] | None = None,
    ) -> None:  # fmt: skip
        self.kind, self.name, self.provider = kind, name, provider
        self.target = obj if isinstance(obj, str) else None
        self._obj = None if isinstance(obj, str) else obj
        self._help = help
        self._check = check  # the kind's contract, run when a lazy component is first imported
        self._error: BrokenComponent | None = None
        #: the built-in entry this one replaced (registered with `replace=True`), if any
        self.replaces: Entry | None = None

    def __repr__(self) -> str:
        return f"Entry({self.kind!r}, {self.name!r}, plugin={self.plugin!r})"

    @property
    def plugin(self) -> str:
        return self.provider.plugin

    @property
    def distribution(self) -> str:
        return self.provider.distribution

    @property
    def origin(self) -> Origin:
        return Origin(self.kind, self.name, self.provider)

    @property
    def loaded(self) -> bool:
        """Whether the component itself is imported (always, unless registered by import path)."""
        return self._obj is not None

    @property
    def obj(self) -> Any:
        """The component, imported (and its contract checked) on first use when registered by import path."""
        if self._obj is None and self._error is None:
            what = f"{self.kind} {self.name!r} of {self.provider}"
            try:
                obj = import_target(self.target, what)
                if self._check is not None:
                    self._check(self, obj)
                self._obj = obj
            except BrokenComponent as exc:
                self._error = exc
        if self._error is not None:
            raise self._error  # its chained cause keeps the plugin's own traceback for --debug
        return self._obj

    @property
    def error(self) -> str | None:
        """Why the component cannot be used (`ModuleNotFoundError: No module named 'x'`), importing it to
        find out; None when it can."""
        try:
            _ = self.obj
        except BrokenComponent as exc:
            return exc.reason
        return None

    @property
    def is_factory(self) -> bool:
        return self.target is not None or (callable(self._obj) and not isinstance(self._obj, Mapping))

    @functools.cached_property
    def help(self) -> str:
        """The first line of its docstring (read from the source for a lazy component); "" when broken."""
        if self._help is not None:
            return self._help
        if isinstance(self._obj, Mapping):
            return str(self._obj.get("help", ""))
        doc = static_docstring(self.target) if self._obj is None else None
        if doc is None and self.error is not None:
            return ""
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
    """`"package.module:attr"` -> the attribute; a failure is a `BrokenComponent` naming the component, chained
    to the original exception so that `--debug` shows its traceback down to the plugin's own line."""
    module_name, _, attr = target.partition(":")
    try:
        return functools.reduce(getattr, attr.split("."), importlib.import_module(module_name))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a plugin's module must not take the host down (issue 11)
        message = " ".join(str(exc).split())
        reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        raise BrokenComponent(f"{what}: cannot import {target}: {reason}", reason) from exc


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


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]
