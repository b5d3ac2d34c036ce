"""List the installed plugins: distribution, version, what each registered, what was refused, and what failed.

`resreg plugins --check` also imports every registered component (and checks its kind's contract), and
exits with status 1 naming each one that fails, and each plugin that failed to load: what `resreg list`
and a build would find one at a time.
With `--debug` each failure's traceback follows, down to the plugin's own line.
"""

from __future__ import annotations

import argparse
import sys
import traceback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="list every registered name")
    parser.add_argument(
        "--check", action="store_true", help="import every registered component; exit 1 naming those that fail"
    )


def run(args: argparse.Namespace) -> int:
    import warnings

    from resreg.plugins import get_plugins
    from resreg.registry import BrokenComponent

    with warnings.catch_warnings():  # failures are shown below, once, with the rest
        warnings.simplefilter("ignore")
        plugins = get_plugins()
    for info in plugins.infos:
        print(f"{info.name}  [{info.status}]  {info.distribution} {info.version}  ({info.module})")
        if info.error:
            print(f"    error: {info.error}")
        for kind, names in info.registered.items():
            shown = (
                ", ".join(names) if args.verbose or len(names) <= 8 else ", ".join(names[:8]) + f", ... ({len(names)})"
            )
            print(f"    {kind}: {shown}")
        # the training callbacks it implements: a plugin that registers nothing (a logger) still does something
        callers = plugins.manager.get_hookcallers(plugins.manager.get_plugin(info.name)) or []
        if hooks := sorted(c.name for c in callers if c.name != "resreg_register"):
            print(f"    hooks: {', '.join(hooks)}")
        for replaced in info.replaces:
            print(f"    replaces: {replaced}")
        for refused in info.refused:
            print(f"    refused: {refused}")
    if not args.check:
        return 0
    entries = list(plugins.registry.all_entries())
    broken = 0
    for entry in entries:
        try:
            _ = entry.obj
        except BrokenComponent as exc:
            broken += 1
            print(f"broken: {entry.kind} {entry.name!r} of {entry.provider}: {exc.reason}")
            if args.debug:
                traceback.print_exception(exc, file=sys.stderr)
    # A plugin that failed to load registered nothing to import, yet it is what a check is for.
    failed = [info for info in plugins.infos if info.status == "failed"]
    for info in failed:
        print(f"failed: plugin {info.name!r} ({info.distribution}): {info.error}")
    loaded = f"; {len(failed)} plugin(s) failed to load" if failed else ""
    print(f"checked {len(entries)} components: " + (f"{broken} broken" if broken else "all import") + loaded)
    return 1 if broken or failed else 0
