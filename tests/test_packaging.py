"""Packaging: every package folder is installed, and configs ship as package data."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {"resreg": "resreg", "plugins": "resreg_plugins", "configs": "resreg_configs"}


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for folder, import_name in IMPORT_NAMES.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((import_name, *relative)))
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages have no folder"


def test_built_in_plugins_are_declared_as_entry_points():
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["resreg"]
    for target in entry_points.values():
        module = target.removeprefix("resreg_plugins.")
        assert (ROOT / "plugins" / f"{module}.py").is_file() or (ROOT / "plugins" / module / "__init__.py").is_file()
