"""Which plugin distribution provides each component a spec uses, so a missing one can be named.

A saved model and a Hub repo record `[{kind, name, distribution, version}, ...]` for every component
of the spec (builder, blocks, shortcuts, stems, heads, ...), read from the registry the model was
built from. Loading it somewhere the plugin is not installed then fails with the component, the
distribution and the `pip install` command (`resreg.loading.components`), instead of "unknown block".
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any

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
