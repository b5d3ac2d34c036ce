"""Finding and loading plugins.

Plugins are the modules named by entry points of the `resreg` group, resreg's own built-ins
included. pluggy's `load_setuptools_entrypoints` imports eagerly, stops at the first broken plugin
and skips duplicates silently, so this module walks the entry points itself: each is imported and
registered in its own try/except, a failure becomes a warning naming the plugin, and
`RESREG_DISABLE_PLUGINS=a,b` skips plugins by name.

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
from resreg.errors import RegistryError, did_you_mean
from resreg.registry import Registry

ENTRY_POINT_GROUP = "resreg"
DISABLE_ENV = "RESREG_DISABLE_PLUGINS"


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
        for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            info = PluginInfo(ep.name, dist, version, ep.value)
            self.infos.append(info)
            if ep.name in disabled:
                info.status = "disabled"
                continue
            if ep.name in seen:  # two distributions claim one plugin name: keep the first, say so
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
        try:
            with self.registry.registering_for(info.name, info.distribution):
                for impl in impls:  # as pluggy calls hooks: with only the arguments the implementation declares
                    impl.function(**{name: self.registry for name in impl.argnames})
        except RegistryError as exc:  # a clash names both plugins: that is the user's to resolve
            self.registry.remove_plugin(info.name)
            self.manager.unregister(plugin)
            self._fail(info, str(exc))
            return
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.registry.remove_plugin(info.name)
            self.manager.unregister(plugin)
            self._fail(info, f"registration failed: {_describe(exc)}")
            return
        for entry in self.registry.all_entries():
            if entry.plugin == info.name:
                info.registered.setdefault(entry.kind, []).append(entry.name)

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
