"""resreg.testing (the plugin authors' test kit) and `resreg plugin new`, which writes a package using it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import resreg
from resreg.blocks import ResidualBlock
from resreg.cli.main import main
from resreg.plugins import PluginInfo, Plugins
from resreg.testing import plugin_checks


class HalfUsed(ResidualBlock):
    """A block with a layer its forward never uses.

    Args:
        unused: an argument with a description.
    """

    zero_init = "bn"

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, unused: int = 0, nodoc: int = 0,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.conv = nn.Conv2d(in_chs, planes, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(planes)
        self.forgotten = nn.Conv2d(planes, planes, 1)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class Broken:
    @resreg.hookimpl
    def resreg_register(self, registry):
        registry.register("block", "half_used", HalfUsed)


@pytest.fixture(scope="module")
def checks() -> dict[str, Any]:
    plugins = Plugins()
    plugins.load_entry_points()
    plugins.add(Broken(), PluginInfo("broken", "resreg-broken", "0.1", "broken"))
    return {str(c): c for c in plugin_checks("broken", registry=plugins.registry)}


def test_the_kit_covers_every_component_of_the_plugin_and_only_those(checks):
    assert set(checks) == {f"block-half_used-{what}" for what in ("documented", "forward_backward", "save_load")}


def test_the_kit_finds_a_parameter_without_gradient(checks):
    with pytest.raises(AssertionError, match=r"no gradient for \['layer1\.0\.forgotten\.weight'"):
        checks["block-half_used-forward_backward"]()


def test_the_kit_finds_an_undocumented_argument(checks):
    with pytest.raises(AssertionError, match=r"arguments without a description in Args: \['nodoc'\]"):
        checks["block-half_used-documented"]()


def test_the_kit_round_trips_through_a_safetensors_file(checks):
    checks["block-half_used-save_load"]()  # passes: saving and loading this block is sound


def test_unknown_plugin_is_one_clear_error():
    with pytest.raises(resreg.ResregError, match=r"no plugin named 'nope' is installed \(installed: .*resnet"):
        plugin_checks("nope")


def test_plugin_new_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["plugin", "new", "My-Net", "--dir", str(tmp_path)]) == 2
    assert "use lower case letters, digits and _" in capsys.readouterr().err
    assert main(["plugin", "new", "mynet", "--dir", str(tmp_path)]) == 0
    assert main(["plugin", "new", "mynet", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_plugin_new_writes_a_package_that_installs_and_passes_its_own_tests(tmp_path):
    """The real thing, as a plugin author does it: the command, pip install, the package's own tests."""
    made = subprocess.run(
        [sys.executable, "-m", "resreg", "plugin", "new", "tinynet", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    package = tmp_path / "resreg-tinynet"
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(package)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run(
        [sys.executable, "-m", "resreg", "list", "blocks"], capture_output=True, text=True, env=environment, timeout=300
    )
    assert any(line.startswith("tinynet_block") and "tinynet (resreg-tinynet)" in line
               for line in listed.stdout.splitlines()), listed.stdout  # fmt: skip
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        capture_output=True, text=True, env=environment, cwd=package, timeout=600,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert summary.startswith("4 passed"), summary  # documented, forward_backward, save_load + its own test
    assert Path(package / "tests" / "test_tinynet.py").is_file()
