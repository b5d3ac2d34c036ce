"""Before a recorded spec is built: is every component it uses installed? If not, say what to install.

A saved model and a Hub repo record `[{kind, name, distribution, version}, ...]` for the components
of their spec (`resreg.weights.provenance`). Loading one where a plugin is missing then fails with the
component, the distribution and the `pip install` command, or, when the plugin is installed but
disabled or broken, with that, instead of "unknown block".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from resreg.errors import RegistryError
from resreg.plugins import DISABLE_ENV, PluginInfo
from resreg.registry import Registry


def require_components(
    records: Iterable[Mapping[str, Any]], registry: Registry, plugins: Sequence[PluginInfo], *, where: str
) -> None:
    """Raise a `RegistryError` naming the first recorded component that no installed plugin provides.

    Args:
        records: the source's provenance records (checked by `resreg.trust.check_components`).
        registry: the registry the model is to be built from.
        plugins: how each plugin went, to tell a disabled or broken plugin from one not installed.
        where: the source, for the message.
    """
    for record in records:
        kind, name = str(record.get("kind", "")), str(record.get("name", ""))
        if kind in registry.kinds and (kind, name) in registry:
            continue
        distribution = str(record.get("distribution", "?"))
        off = _switched_off(distribution, plugins)
        if off:
            raise RegistryError(f"{where}: {kind} {name!r} is provided by {off}")
        version = str(record.get("version", ""))
        shown = f" {version}" if version not in ("", "?") else ""
        raise RegistryError(
            f"{where}: {kind} {name!r} is not provided by any installed plugin; the model says it comes from "
            f"the distribution {distribution!r}{shown}: pip install {distribution}"
        )


def _switched_off(distribution: str, plugins: Sequence[PluginInfo]) -> str:
    """`plugin 'se' (resreg-se), which is disabled (RESREG_DISABLE_PLUGINS)` when the distribution is
    installed but its plugins are disabled or failed to load; empty when it is not installed."""

    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    off = [i for i in plugins if norm(i.distribution) == norm(distribution) and i.status != "loaded"]
    if not off:
        return ""
    names = " or ".join(repr(i.name) for i in off)
    failed = [i for i in off if i.status != "disabled"]  # a disabled plugin has no error to show
    if not failed:
        return f"plugin {names} ({distribution}), which is disabled ({DISABLE_ENV}); remove it from {DISABLE_ENV}"
    return f"plugin {names} ({distribution}), which failed to load: {failed[0].error} (see resreg plugins)"
