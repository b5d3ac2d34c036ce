"""List what the registry holds: blocks, shortcuts, models, recipes, ... and the shipped configs.

`resreg list` shows every kind with its names; `resreg list blocks -v` adds each entry's
parameters with types, defaults and help; `resreg list recipes -v` each recipe's paper and values
(the preset resolved: every value, its base presets' included). A component that cannot be imported
is marked `[broken: ModuleNotFoundError: ...]` and the listing goes on; the overview marks it `[broken]`.
Without -v a lazy component is imported only when its docstring cannot be read from its source (a missing
module or attribute), so listing stays fast; `resreg plugins --check` imports every one.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from resreg.errors import ResregError, did_you_mean
from resreg.recipe import build_recipe, preset_info

if TYPE_CHECKING:
    from resreg.registry import Entry, Registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", help="a kind (block, blocks, model, ...) or 'configs'")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each entry's parameters")


def run(args: argparse.Namespace) -> int:
    from resreg.config import list_shipped_configs
    from resreg.plugins import get_registry

    registry = get_registry()
    if args.kind is None:
        _print_overview(registry, list_shipped_configs())
        return 0
    kind = args.kind[:-1] if args.kind.endswith("s") and args.kind[:-1] in registry.kinds else args.kind
    if kind in ("config", "configs"):
        for name in list_shipped_configs():
            print(name)
        return 0
    if kind not in registry.kinds:
        raise ResregError(did_you_mean(args.kind, [*registry.kinds, "configs"], "kind"))
    entries = registry.entries(kind)
    width = max((len(e.name) for e in entries), default=4)
    for entry in entries:
        source = entry.plugin if entry.distribution in ("?", entry.plugin) else f"{entry.plugin} ({entry.distribution})"
        broken = _broken(entry, args.verbose)
        print(f"{entry.name:<{width}}  {source:<22}  " + (f"[broken: {broken}]" if broken else entry.help))
        if broken:
            continue
        if args.verbose and kind == "recipe":
            _print_recipe(registry, entry.name)
        elif args.verbose:
            for param in entry.params.values():
                print(
                    f"    {param.name}: {param.type_name()} = {param.default_repr()}"
                    + (f"  # {param.help}" if param.help else "")
                )
    return 0


def _print_overview(registry: Registry, configs: list[str]) -> None:
    """One line per kind with its names, those that cannot be imported marked as `resreg list KIND` marks them."""
    broken: dict[str, int] = {}
    for kind in registry.kinds:
        entries = registry.entries(kind)
        unusable = {entry.name for entry in entries if _broken(entry, verbose=False)}
        names = [f"{entry.name} [broken]" if entry.name in unusable else entry.name for entry in entries]
        if unusable:
            broken[f"{kind}s"] = len(unusable)
        print(f"{kind + 's':<11} {len(entries):>3}  {', '.join(names)}")
    print(f"{'configs':<11} {len(configs):>3}  {', '.join(configs)}")
    if broken:
        kinds = ", ".join(f"resreg list {kind}" for kind in broken)
        print(f"{sum(broken.values())} broken (why: {kinds}); resreg plugins --check imports every component")


def _broken(entry: Entry, verbose: bool) -> str | None:
    """Why `entry` cannot be used, or None. A lazy component's help line comes from its source; it is imported
    when that cannot be read (its module or attribute is missing), or with -v, which reads its parameters."""
    return entry.error if verbose or not entry.help else None


def _print_recipe(registry: Registry, name: str) -> None:
    """A recipe preset's paper (and note), then every value of the recipe it resolves to, one per line."""
    for key, value in preset_info(registry, name).items():
        print(f"    {key}: {value}")
    for key, value in _flat(build_recipe(name, registry, where=f"recipe {name}").to_spec()):
        print(f"    {key}: {value}")


def _flat(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested sections as dotted keys (`schedule.milestones`), as they are written on the command line."""
    out: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
            out.append((f"{prefix}{key}", shown))
    return out
