"""Entry point of the `resreg` command.

Each subcommand is a module of this package with a docstring (its help line), `add_arguments`
and `run(args) -> int`. Modules import torch and friends inside `run`, so `resreg --help` stays fast.
A `ResregError`, or a write the file system refused (disk full, read-only), becomes one line on
stderr and exit status 2; `--debug` (or RESREG_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from resreg import __version__
from resreg.errors import ResregError, did_you_mean
from resreg.io import refusal_reason, refused_write

# name -> module; the order is the order of `resreg --help`.
COMMANDS = {
    "train": "resreg.cli.train",
    "eval": "resreg.cli.eval",
    "list": "resreg.cli.list",
    "show": "resreg.cli.show",
    "summary": "resreg.cli.summary",
    "plugins": "resreg.cli.plugins",
    "plugin": "resreg.cli.plugin",
    "push": "resreg.cli.push",
    "pull": "resreg.cli.pull",
    "predict": "resreg.cli.predict",
    "export": "resreg.cli.export",
    "plot": "resreg.cli.plot",
    "sweep": "resreg.cli.sweep",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, status 2, like every other user error
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="resreg", description="Residual networks from declarative specs.")
    parser.add_argument("--version", action="version", version=f"resreg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command not written yet
        doc = (module.__doc__ or "").strip()
        # Raw: the docstrings' example commands are one per line, and argparse would run them together.
        sub = subparsers.add_parser(
            name, help=doc.split("\n", 1)[0], description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, command_parser=sub)
    return parser


def _refuse_unknown(command: argparse.ArgumentParser, rest: list[str]) -> NoReturn:
    """Arguments the command does not take: a misspelt option is named with the options it has."""
    options = [name.split("=", 1)[0] for name in rest if name.startswith("-")]
    if options:
        known = [o for action in command._actions for o in action.option_strings if o.startswith("--")]
        command.error(did_you_mean(options[0], [*known, "--debug"], "option"))
    command.error(f"unrecognized arguments: {' '.join(rest)}")


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"resreg: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if "--debug" in rest:  # `resreg train CFG --debug`: the global flag works after the command too
        rest = [arg for arg in rest if arg != "--debug"]
        args.debug = True
    # `resreg train CFG --run-dir X a=b`: argparse ends the overrides at the first option; take the rest too.
    if rest and isinstance(getattr(args, "overrides", None), list) and not any(r.startswith("-") for r in rest):
        args.overrides += rest
    elif rest:
        _refuse_unknown(getattr(args, "command_parser", parser), rest)
    debug = args.debug or os.environ.get("RESREG_DEBUG", "") not in ("", "0")
    if not debug:
        warnings.showwarning = _one_line_warnings
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # `resreg list | head`: the reader has all it wanted
        # Python flushes stdout once more at exit and would print the error there: send that flush nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ResregError as exc:
        if debug:
            raise
        print(f"resreg {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        # A write the file system refused outside resreg.io's atomic writes (an append to a log, a
        # library's own file): still the user's to fix (free space, a writable directory), so one line.
        refusal = refused_write(exc)
        if refusal is None or debug:
            raise
        where = f"{refusal.filename}: " if refusal.filename else ""
        print(f"resreg {args.command}: error: {where}{refusal_reason(refusal)}", file=sys.stderr)
        return ResregError.exit_code
    except KeyboardInterrupt:
        print("resreg: interrupted", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    sys.exit(main())
