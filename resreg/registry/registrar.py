"""What a plugin's `resreg_register(registry)` hook is handed: registration on behalf of that plugin.

Each plugin gets its own registrar, bound to its name and distribution, so every entry says who
registered it without any "who is registering now" state. An entry the registry refuses (a name another
plugin has, a component that breaks its kind's contract) is recorded as a `Refused` and skipped: the rest
of the plugin registers, and the plugin manager reports the refusal in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resreg.registry.names import Refused
from resreg.registry.presets import read_presets

if TYPE_CHECKING:
    from resreg.registry.entry import Provider
    from resreg.registry.registry import Registry


class Registrar:
    """Registers components for one plugin: `registry.register("block", "cbam_basic", "pkg.blocks:CbamBasic")`."""

    def __init__(self, registry: Registry, provider: Provider) -> None:
        self._registry, self.provider = registry, provider

    def register(self, kind: str, name: str, obj: Any, *, help: str | None = None, replace: bool = False) -> Any:
        """Register `obj` (a class, a function, for presets a spec mapping, or the import path of one,
        `"package.module:attr"`) as `kind` `name`; returns `obj`.

        A name a built-in component has stays the built-in's unless `replace=True` says to replace it
        (`resreg plugins` shows that it was); a name two plugins register is refused to both.
        """
        try:
            self._registry.register(kind, name, obj, provider=self.provider, help=help, replace=replace)
        except Refused as refused:
            self._registry.refusals.append(refused)
        return obj

    def register_presets(self, kind: str, package: str, filename: str = "presets.yaml") -> None:
        """Register every preset of a YAML file shipped in `package` (see `read_presets`) as `kind`:
        `registry.register_presets("model", __package__)`."""
        for name, spec in read_presets(package, filename).items():
            self.register(kind, name, spec)

    def add_kind(self, kind: str, help: str) -> None:
        """Add a new kind of component (for plugins that bring a new extension point)."""
        self._registry.add_kind(kind, help)
