"""List the installed plugins: distribution, version, what each registered, and what failed."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="list every registered name")


def run(args: argparse.Namespace) -> int:
    import warnings

    from resreg.plugins import get_plugins

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
    return 0
