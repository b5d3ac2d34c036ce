"""Presets declared in YAML beside a plugin's code, and the keys of a preset that describe it."""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from typing import Any

from resreg.errors import RegistryError
from resreg.yaml_file import parse_yaml

#: keys of a preset (model or recipe) that describe it, for `resreg list -v` and the model zoo, and are
#: not values of what it builds: `help` (one line) and `meta` (`{paper: "He et al. 2015", paper_error: 8.75}`).
PRESET_INFO_KEYS = ("help", "meta")


def read_presets(package: str, filename: str = "presets.yaml") -> dict[str, dict[str, Any]]:
    """The presets of a YAML file shipped in `package`: name -> spec; keys starting with `_` are YAML
    anchors shared by the presets (`_bottleneck: &bottleneck {...}`), not presets."""
    text = importlib.resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    # A plugin author's YAML mistake is one line with its file, line and column (and the same limits as a config)
    presets = parse_yaml(text, f"{package}/{filename}", error=RegistryError) or {}
    if not isinstance(presets, Mapping):
        kind = type(presets).__name__
        raise RegistryError(f"{package}/{filename}: presets are a mapping of name -> spec, got a {kind}")
    return {name: spec for name, spec in presets.items() if not str(name).startswith("_")}
