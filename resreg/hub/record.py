"""What a push publishes of a run: an allowlisted record, never the environment or local paths.

A run's `config.yaml` is the resolved config: a value written `${oc.env:SOME_SECRET}` is in it
resolved, and data sections hold local paths (`data.root: /home/me/imagenet`). A push publishes
only these parts of it:

    name                     the run's name
    model                    the model section, without its weight source keys (`pretrained*`)
    train                    the recipe's values (lr, batch size, schedule, augmentation)
    data                     the data set's `type` and `name`, nothing else (no root, no folders)
    eval                     the evaluation options

and in what it keeps, a string that is an absolute path, holds the run directory's path or the
home folder, or equals (or, for longer values, contains) the value of an environment variable is
replaced by a placeholder. `check_publishable` then scans every file about to be uploaded for the
same values, the model file's header included, and refuses to publish one that holds them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from resreg.errors import WeightsError
from resreg.trust import refusal

#: the run config sections a push publishes; `data` only with these keys
PUBLISHED_SECTIONS = ("name", "model", "train", "data", "eval")
PUBLISHED_DATA_KEYS = ("type", "name")
LOCAL_PATH = "<local path>"
FROM_ENVIRONMENT = "<from the environment>"
#: environment values shorter than this are too common ("1", "true", "C") to mean anything; up to
#: `_CONTAINED_FROM` characters a string must equal one, from there on it must not contain one either
_SHORTEST_SECRET = 4
_CONTAINED_FROM = 8
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")


def published_config(config: Mapping[str, Any] | None, run_dir: Path | None) -> dict[str, Any] | None:
    """The allowlisted, scrubbed part of a run's resolved config (see the module docstring)."""
    if not isinstance(config, Mapping):
        return None
    kept: dict[str, Any] = {}
    for section in PUBLISHED_SECTIONS:
        value = config.get(section)
        if value is None:
            continue
        if section == "data" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k in PUBLISHED_DATA_KEYS}
        kept[section] = _scrub(value, Scrubber(run_dir), refusal)
    if kept.get("name") in (LOCAL_PATH, FROM_ENVIRONMENT):
        del kept["name"]  # the card then takes the repo's name
    return kept


class Scrubber:
    """Tells whether a string is local: a path, or a value of the environment."""

    def __init__(self, run_dir: Path | None) -> None:
        places = [Path.home(), Path.cwd()] + ([run_dir, run_dir.resolve()] if run_dir is not None else [])
        self.places = sorted({str(p) for p in places if len(str(p)) > 1}, key=len, reverse=True)
        self.environment = {name: value for name, value in os.environ.items() if len(value.strip()) >= _SHORTEST_SECRET}

    def placeholder(self, text: str) -> str | None:
        """LOCAL_PATH, FROM_ENVIRONMENT, or None when `text` may be published."""
        if text.startswith(("/", "~")) or _WINDOWS_PATH.match(text) or any(p in text for p in self.places):
            return LOCAL_PATH
        if self.environment_variable(text):
            return FROM_ENVIRONMENT
        return None

    def environment_variable(self, text: str) -> str | None:
        """The name of an environment variable whose value `text` is (or holds)."""
        for name, value in self.environment.items():
            if text == value or (len(value) >= _CONTAINED_FROM and value in text):
                return name
        return None


def _scrub(value: Any, scrubber: Scrubber, refusal: Any) -> Any:
    if isinstance(value, Mapping):
        # keys that name paths or sources (`checkpoint_path`, `root`) are left out with their values
        return {str(k): _scrub(v, scrubber, refusal) for k, v in value.items() if not refusal(str(k))}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, scrubber, refusal) for v in value]
    if isinstance(value, str):
        return scrubber.placeholder(value) or value
    return value


def check_publishable(files: Iterable[tuple[str, str]], run_dir: Path | None) -> None:
    """Refuse (one line) when the text of a file about to be uploaded holds a local path or a value of
    the environment. `files` are (name, text); for the weights file the text is its header metadata."""
    scrubber = Scrubber(run_dir)
    for name, text in files:
        for place in scrubber.places:
            if place in text:
                raise WeightsError(f"refusing to publish {name}: it holds the local path {place!r}")
        for variable, value in scrubber.environment.items():
            if len(value) >= _CONTAINED_FROM and value in text:
                raise WeightsError(
                    f"refusing to publish {name}: it holds the value of the environment variable {variable}"
                )
