"""User-facing errors.

Everything the user can get wrong (a config, an override, a weights file, a missing data set) raises a
`ResregError`. The CLI prints its message as one line on stderr and exits with status 2; anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ResregError(Exception):
    """An error the user can fix; its message is one line that says what, where and what is valid."""

    exit_code = 2


class ConfigError(ResregError):
    """A config file, an override or a spec is malformed or names something unknown."""


class RegistryError(ResregError):
    """A registry lookup failed, or two plugins registered the same name."""


class WeightsError(ResregError):
    """A weights file or source cannot be read or does not fit the model."""


class DataError(ResregError):
    """A data set is missing or malformed."""


def did_you_mean(asked: str, known: Iterable[str], what: str) -> str:
    """Explain a miss: `unknown block 'botleneck' (did you mean 'bottleneck'? known: basic, ...)`."""
    known = sorted(known)
    close = difflib.get_close_matches(asked, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listing = ", ".join(known) if len(known) <= 40 else ", ".join(known[:40]) + f", ... ({len(known)} in all)"
    return f"unknown {what} {asked!r} ({hint}known: {listing or 'none'})"
