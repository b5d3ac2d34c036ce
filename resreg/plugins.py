"""Finding and loading plugins.

Plugins are the modules named by entry points of the `resreg` group, resreg's own built-ins
included. pluggy's `load_setuptools_entrypoints` imports eagerly, stops at the first broken plugin
and skips duplicates silently, so this module walks the entry points itself: each is imported and
registered in its own try/except, a failure becomes a warning naming the plugin, and
`RESREG_DISABLE_PLUGINS=a,b` skips plugins by name. resreg's own plugins (the `resreg` distribution's)
load first; each plugin registers through a `Registrar` bound to it, and an entry the registry refuses
(a name another plugin has, see `resreg.registry.names`) is one warning line, not the plugin's end.

A plugin cannot take the host down: whatever it raises at import or registration (`SystemExit`
and other `BaseException`s too; only Ctrl-C's `KeyboardInterrupt` goes through) disables that
plugin alone. A hook implementation whose name is no hook (`resreg_step_ends`) would otherwise be
accepted and never called, so it disables its plugin with an error naming both.
"""

from __future__ import annotations

import importlib.metadata
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import pluggy

from resreg import hookspecs
from resreg.errors import did_you_mean
from resreg.registry import Provider, Registrar, Registry

ENTRY_POINT_GROUP = "resreg"
DISABLE_ENV = "RESREG_DISABLE_PLUGINS"
#: the distribution whose plugins are built-in: they keep their names whatever another plugin registers
BUILTIN_DISTRIBUTION = "resreg"


class PluginWarning(UserWarning):
    """A plugin failed to import or to register; the others still work."""


@dataclass
class PluginInfo:
    """What `resreg plugins` shows for one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    status: str = "loaded"  # loaded | disabled | failed
    error: str = ""
    registered: dict[str, list[str]] = field(default_factory=dict)
    builtin: bool = False
    #: one line per entry of this plugin the registry refused (a name clash, a broken contract)
    refused: list[str] = field(default_factory=list)
    #: built-in components this plugin replaced on purpose (`replace=True`): `block 'basic' of plugin 'resnet'`
    replaces: list[str] = field(default_factory=list)

    @property
    def provider(self) -> Provider:
        return Provider(self.name, self.distribution, self.builtin)


class Plugins:
    """A pluggy manager plus the registry its plugins filled and a report of how each one went."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: list[PluginInfo] = []

    @property
    def hook(self) -> Any:
        """Call training callbacks: `plugins.hook.resreg_step_end(run=run, metrics=m)`."""
        return self.manager.hook

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        seen: set[str] = set()
        for ep in sorted(importlib.metadata.entry_points(group=group), key=_builtins_first):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            info = PluginInfo(ep.name, dist, version, ep.value, builtin=_is_builtin(ep))
            self.infos.append(info)
            if ep.name in disabled:
                info.status = "disabled"
                continue
            if ep.name in seen:  # two distributions claim one plugin name: the built-in, or the first by name
                self._fail(info, f"another distribution already provides a plugin named {ep.name!r}")
                continue
            seen.add(ep.name)
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit included: a broken plugin must never take the host down
                self._fail(info, f"import failed: {_describe(exc)}")
                continue
            self.add(module, info)

    def add(self, plugin: Any, info: PluginInfo) -> None:
        """Register one plugin object (a module, or any object with hookimpls) and run its registration."""
        if info not in self.infos:
            self.infos.append(info)
        try:
            self.manager.register(plugin, name=info.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # e.g. a hookimpl with a misspelt argument, or one whose getattr raises
            if self.manager.is_registered(plugin):  # pluggy may have added some of its hooks before failing
                self.manager.unregister(plugin)
            self._fail(info, _describe(exc))
            return
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.manager.unregister(plugin)
            hooks = [n for n in vars(hookspecs) if n.startswith("resreg_")]
            self._fail(info, f"hook implementation: {did_you_mean(unknown[0], hooks, 'hook')}")
            return
        impls = [i for i in self.manager.hook.resreg_register.get_hookimpls() if i.plugin is plugin]
        registrar, refused_before = Registrar(self.registry, info.provider), len(self.registry.refusals)
        try:
            for impl in impls:  # as pluggy calls hooks: with only the arguments the implementation declares
                impl.function(**{name: registrar for name in impl.argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.registry.remove_plugin(info.name)
            self.manager.unregister(plugin)
            self._fail(info, f"registration failed: {_describe(exc)}")
            return
        for refused in self.registry.refusals[refused_before:]:
            for other in self.infos:
                if other.name in refused.plugins:
                    other.refused.append(str(refused))
            warnings.warn(str(refused), PluginWarning, stacklevel=2)
        self._list_registered()

    def _list_registered(self) -> None:
        """What each plugin holds now (a later plugin's clash may have taken an entry from an earlier one)."""
        for info in self.infos:
            info.registered, info.replaces = {}, []
        by_name = {info.name: info for info in self.infos if info.status == "loaded"}
        for entry in self.registry.all_entries():
            info = by_name.get(entry.plugin)
            if info is not None:
                info.registered.setdefault(entry.kind, []).append(entry.name)
                if entry.replaces is not None:
                    info.replaces.append(f"{entry.kind} {entry.name!r} of {entry.replaces.provider}")

    def _unknown_hooks(self, plugin: Any) -> list[str]:
        """Names of `plugin`'s hook implementations that match no hookspec (pluggy's `check_pending`, per plugin)."""
        unknown = []
        for name, caller in vars(self.manager.hook).items():
            if name.startswith("_") or caller.has_spec():
                continue
            if any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()):
                unknown.append(name)
        return sorted(unknown)

    def _fail(self, info: PluginInfo, error: str) -> None:
        info.status, info.error = "failed", error
        warnings.warn(
            f"resreg plugin {info.name!r} ({info.distribution}) disabled: {error}", PluginWarning, stacklevel=3
        )

    def distribution_of(self, kind: str, name: str) -> tuple[str, str]:
        """(distribution, version) that provides a registered component, for provenance records."""
        entry = self.registry.get(kind, name)
        for info in self.infos:
            if info.name == entry.plugin:
                return info.distribution, info.version
        return entry.distribution, "?"


def _is_builtin(ep: importlib.metadata.EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == BUILTIN_DISTRIBUTION


def _builtins_first(ep: importlib.metadata.EntryPoint) -> tuple[bool, str, str]:
    """resreg's own plugins first, then by plugin and distribution name: an order no one can buy with a name."""
    return not _is_builtin(ep), ep.name, ep.dist.name if ep.dist else ""


def _describe(exc: BaseException) -> str:
    """`SystemExit: 3`, `ImportError: no module ...`: one line, whatever the exception holds."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded from entry points on first use."""
    global _plugins
    if _plugins is None:
        plugins = Plugins()
        plugins.load_entry_points()
        _plugins = plugins
    return _plugins


def get_registry() -> Registry:
    """The process-wide registry, filled by every installed plugin."""
    return get_plugins().registry


def loaded_plugin_infos() -> list[PluginInfo]:
    """How each plugin went, when the plugins are loaded (an empty list before; loading nothing)."""
    return list(_plugins.infos) if _plugins is not None else []


def reset_plugins() -> None:
    """Forget the loaded plugins (tests; after installing a plugin in a running process)."""
    global _plugins
    _plugins = None
