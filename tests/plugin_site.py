"""A throw-away plugin distribution for tests that run `resreg` in a subprocess: put its folder on
PYTHONPATH and resreg discovers the plugin through its entry point, as it would an installed one."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_plugin_site(root: Path, name: str, source: str) -> Path:
    """`root` with module resreg_NAME (`source`) and a dist-info declaring it in the `resreg` entry-point group."""
    module = f"resreg_{name}"
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: resreg-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[resreg]\n{name} = {module}\n")
    return root
