"""Which plugin distribution provides each component a spec uses, so a missing one can be named.

A saved model and a Hub repo record `[{kind, name, distribution, version}, ...]` for every component
of the spec (builder, blocks, shortcuts, stems, heads, ...). Loading it somewhere the plugin is not
installed then fails with the component, the distribution and the `pip install` command, instead of
"unknown block".
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Mapping
from typing import Any

from resreg.errors import RegistryError
from resreg.plugins import DISABLE_ENV, loaded_plugin_infos
from resreg.registry import Registry, split_spec


def components_of(spec: Any, registry: Registry, kind: str = "builder") -> list[tuple[str, str]]:
    """Every (kind, name) a resolved spec refers to, following the `ref(kind)` parameters of each entry."""
    name, args = split_spec(spec, kind)
    found = [(kind, name)]
    entry = registry.get(kind, name)
    for key, value in args.items():
        param = entry.params.get(key)
        if param is not None and param.kind_ref and value is not None:
            found += [c for c in components_of(value, registry, param.kind_ref) if c not in found]
        elif isinstance(value, list):  # nested model specs, e.g. an ensemble's inlined members
            for item in value:
                item = item.get("model", item) if isinstance(item, Mapping) else item
                if isinstance(item, Mapping) and ("builder", item.get("type")) in registry:
                    found += [c for c in components_of(item, registry) if c not in found]
    return found


def provenance(spec: Any, registry: Registry) -> list[dict[str, str]]:
    """`[{kind, name, distribution, version}]` of the components of a resolved spec."""
    records = []
    for kind, name in components_of(spec, registry):
        distribution = registry.get(kind, name).distribution
        try:
            version = importlib.metadata.version(distribution)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            version = "?"
        records.append({"kind": kind, "name": name, "distribution": distribution, "version": version})
    return records


def require_components(records: Iterable[Mapping[str, Any]], registry: Registry, *, where: str) -> None:
    """Raise a `RegistryError` naming the first recorded component that no installed plugin provides."""
    for record in records:
        kind, name = str(record.get("kind", "")), str(record.get("name", ""))
        if kind in registry.kinds and (kind, name) in registry:
            continue
        distribution = str(record.get("distribution", "?"))
        off = _plugins_switched_off(distribution)
        if off:
            raise RegistryError(f"{where}: {kind} {name!r} is provided by {off}")
        version = str(record.get("version", ""))
        shown = f" {version}" if version not in ("", "?") else ""
        raise RegistryError(
            f"{where}: {kind} {name!r} is not provided by any installed plugin; the model says it comes from "
            f"the distribution {distribution!r}{shown}: pip install {distribution}"
        )


def _plugins_switched_off(distribution: str) -> str:
    """`plugin 'se' (resreg-se), which is disabled (RESREG_DISABLE_PLUGINS)` when the distribution is
    installed but its plugins are disabled or failed to load; empty when it is not installed."""

    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")

    off = [i for i in loaded_plugin_infos() if norm(i.distribution) == norm(distribution) and i.status != "loaded"]
    if not off:
        return ""
    names = " or ".join(repr(i.name) for i in off)
    if all(i.status == "disabled" for i in off):
        return f"plugin {names} ({distribution}), which is disabled ({DISABLE_ENV}); remove it from {DISABLE_ENV}"
    return f"plugin {names} ({distribution}), which failed to load: {off[0].error} (see resreg plugins)"
