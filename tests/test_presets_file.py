"""A plugin's presets.yaml (`resreg.registry.read_presets`): a mistake in it is one line naming the file,
the line and the column, for the plugin's author; anchors shared by presets are not presets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from resreg.errors import RegistryError
from resreg.registry import read_presets


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real importable package `presets_pkg` whose presets.yaml the test writes."""
    package = tmp_path / "presets_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "presets_pkg", raising=False)
    return package / "presets.yaml"


def test_presets_and_their_shared_anchors(plugin_package: Path) -> None:
    plugin_package.write_text("_common: &common {type: resnet, block: basic}\ntiny: {<<: *common, depths: [1]}\n")
    assert read_presets("presets_pkg") == {"tiny": {"type": "resnet", "block": "basic", "depths": [1]}}


def test_invalid_yaml_names_the_file_line_and_column(plugin_package: Path) -> None:
    plugin_package.write_text("tiny:\n  type: resnet\n  depths: [1, 2\n")
    with pytest.raises(RegistryError, match=r"^presets_pkg/presets\.yaml:4:1: invalid YAML: ") as error:
        read_presets("presets_pkg")
    assert "\n" not in str(error.value)


def test_presets_that_are_not_a_mapping_are_refused(plugin_package: Path) -> None:
    plugin_package.write_text("- tiny\n- small\n")
    with pytest.raises(RegistryError, match=r"presets_pkg/presets\.yaml: presets are a mapping .* got a list"):
        read_presets("presets_pkg")
