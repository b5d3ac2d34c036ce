"""A throw-away plugin distribution for tests that run `resreg` in a subprocess: put its folder on
PYTHONPATH and resreg discovers the plugin through its entry point, as it would an installed one.
`add_plugin` adds a plugin object to a fresh plugin manager in this process instead."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

from resreg.plugins import PluginInfo, Plugins


def write_plugin_site(root: Path, name: str, source: str) -> Path:
    """`root` with module resreg_NAME (`source`) and a dist-info declaring it in the `resreg` entry-point group."""
    module = f"resreg_{name}"
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: resreg-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[resreg]\n{name} = {module}\n")
    return root


def add_plugin(plugin: object, name: str) -> tuple[Plugins, PluginInfo, list[str]]:
    """A fresh `Plugins` with `plugin` added as distribution resreg-NAME 1.0: the manager, the plugin's info and the
    warnings the adding gave."""
    plugins, info = Plugins(), PluginInfo(name, f"resreg-{name}", "1.0", name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins.add(plugin, info)
    return plugins, info, [str(w.message) for w in caught]
