"""The registry: every named component resreg can build, filled by plugins (public API for plugin authors).

    entry.py      one registered component, its provider, its lazy import
    registrar.py  what a plugin's `resreg_register` hook is handed: registration on its behalf
    names.py      who gets a name two plugins register (built-ins keep theirs; a clash refuses both)
    contract.py   what a component of each kind must be, checked when it is registered
    factory.py    the factory of a validated spec: errors at the spec path, built modules marked
    registry.py   the registry itself: filling, reading, checking and building specs
"""

from resreg.registry.contract import BUILDER_ARGUMENTS, contract_problem
from resreg.registry.entry import (
    UNATTRIBUTED,
    BrokenComponent,
    Entry,
    Origin,
    Provider,
    import_target,
    static_docstring,
)
from resreg.registry.factory import Factory, mark_origin, origin_of
from resreg.registry.kinds import DEFAULT_KINDS
from resreg.registry.names import Refused
from resreg.registry.presets import PRESET_INFO_KEYS, read_presets
from resreg.registry.registrar import Registrar
from resreg.registry.registry import Registry, split_spec

__all__ = [
    "BUILDER_ARGUMENTS",
    "DEFAULT_KINDS",
    "PRESET_INFO_KEYS",
    "UNATTRIBUTED",
    "BrokenComponent",
    "Entry",
    "Factory",
    "Origin",
    "Provider",
    "Refused",
    "Registrar",
    "Registry",
    "contract_problem",
    "import_target",
    "mark_origin",
    "origin_of",
    "read_presets",
    "split_spec",
    "static_docstring",
]
