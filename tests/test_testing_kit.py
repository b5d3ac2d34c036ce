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
from resreg.testing import plugin_checks, small_net_spec


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


class ZeroesTheWrongLayer(HalfUsed):
    """A block whose `zero_init` names a layer before the branch's last one.

    Args:
        unused: an argument with a description.
        nodoc: another.
    """

    zero_init = "bn"

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.forgotten(self.bn(self.conv(x)))  # a conv with a bias after the zeroed norm


class SetsItsOwnWeights(HalfUsed):
    """A block whose __init__ gives its convolution weights of its own (0.5 everywhere).

    Args:
        unused: an argument with a description.
        nodoc: another.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        nn.init.constant_(self.conv.weight, 0.5)


class OptsIn(SetsItsOwnWeights):
    """The same block, opting in to the builder's He init."""

    builder_init = True


class Broken:
    @resreg.hookimpl
    def resreg_register(self, registry):
        registry.register("block", "half_used", HalfUsed)
        registry.register("block", "wrong_zero", ZeroesTheWrongLayer)
        registry.register("block", "own_weights", SetsItsOwnWeights)
        registry.register("block", "opts_in", OptsIn)
        registry.register("block", "stray_doc", "resreg_kit_stray:StrayDoc")


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Plugins:
    folder = tmp_path_factory.mktemp("lazy")
    (folder / "resreg_kit_stray.py").write_text(
        "import torch.nn as nn\n\n\nclass StrayDoc(nn.Identity):\n"
        '    """A block documenting an argument it does not have.\n\n    Args:\n        kernal_size: a typo.\n    """\n'
    )
    sys.path.insert(0, str(folder))
    plugins = Plugins()
    plugins.load_entry_points()
    plugins.add(Broken(), PluginInfo("broken", "resreg-broken", "0.1", "broken"))
    yield plugins
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def checks(plugins) -> dict[str, Any]:
    return {str(c): c for c in plugin_checks("broken", registry=plugins.registry)}


def test_the_kit_covers_every_component_of_the_plugin_and_only_those(checks):
    names = ("half_used", "wrong_zero", "own_weights", "opts_in", "stray_doc")
    whats = ("contract", "documented", "forward_backward", "save_load", "zero_init_last", "own_init")
    assert set(checks) == {f"block-{name}-{what}" for name in names for what in whats}


def test_the_kit_checks_that_zero_init_last_zeroes_the_residual_branch(checks):
    checks["block-half_used-zero_init_last"]()
    with pytest.raises(AssertionError, match=r"block 0 \(ZeroesTheWrongLayer\): zero_init_last leaves its residual"):
        checks["block-wrong_zero-zero_init_last"]()


def test_the_builder_keeps_a_plugin_blocks_own_weights_unless_it_opts_in(checks, plugins):
    checks["block-own_weights-own_init"]()
    checks["block-opts_in-own_init"]()  # opted in: nothing to check
    for name, kept in (("own_weights", True), ("opts_in", False)):
        model = resreg.create_model(small_net_spec(block=name), registry=plugins.registry)
        convs = [m.conv.weight for m in model.modules() if isinstance(m, SetsItsOwnWeights)]
        assert len(convs) == 3 and all(bool((w == 0.5).all()) is kept for w in convs), name
    # resreg's own blocks still get He init (fan-out normal: not the 0.5 or PyTorch's uniform default)
    conv = resreg.create_model(small_net_spec(), registry=plugins.registry).layer1[0].conv1.weight
    assert abs(conv.std().item() - (2 / (16 * 9)) ** 0.5) < 0.03


def test_the_kit_reports_a_lazy_block_that_breaks_the_contract(checks):
    with pytest.raises(AssertionError, match=r"'stray_doc' is broken: its docstring's Args: documents 'kernal_size'"):
        checks["block-stray_doc-contract"]()


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
    # contract, documented, forward_backward, save_load, zero_init_last, own_init + its own test
    assert summary.startswith("7 passed"), summary
    assert Path(package / "tests" / "test_tinynet.py").is_file()


@pytest.mark.parametrize(
    ("spec", "digest"),
    [
        ("resnet20", "ddf1ff18afc6998c"),
        ({"preset": "resnet20", "block": "highway", "depths": [1, 1, 1]}, "093a2cca51e84b6a"),
        ({"preset": "resnet20", "block": "preact_basic", "depths": [1, 1, 1]}, "f51be8f64c020787"),
        (
            {"preset": "resnet20", "block": {"type": "bottleneck", "attn": "se", "zero_init_last": True},
             "shortcut": "C", "depths": [1, 1, 1]},
            "9bc40c279f169325",
        ),
        ({"preset": "resnet20", "stem": {"type": "deep", "width": 8}, "shortcut": "A", "depths": [1, 1, 1]},
         "c3001b3861ab9e3f"),
    ],
)  # fmt: skip
def test_builtin_models_get_the_same_weights_for_a_seed_as_before_the_init_became_per_component(spec, digest):
    """The digests were taken before `init_weights` learnt to leave plugin components alone."""
    import hashlib

    torch.manual_seed(0)
    state = resreg.create_model(spec).state_dict()
    sha = hashlib.sha256()
    for name, tensor in state.items():
        sha.update(name.encode())
        sha.update(tensor.contiguous().numpy().tobytes())
    assert sha.hexdigest()[:16] == digest


def test_a_plugin_stem_keeps_its_weights_once_the_network_adopts_its_layers():
    """The ResNet builder moves a stem's layers into the network (`conv1`, not `stem.conv1`): they stay the stem's."""

    class FlatStem(nn.Module):
        """A 3x3 convolution whose weights its __init__ sets (0.5 everywhere)."""

        def __init__(self, in_chans: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_chans, 16, 3, padding=1, bias=False)
            nn.init.constant_(self.conv1.weight, 0.5)
            self.out_chs, self.reduction, self.feature_module, self.feature_reduction = 16, 1, "conv1", 1

    class StemPlugin:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("stem", "flat", FlatStem)

    plugins = Plugins()
    plugins.load_entry_points()
    plugins.add(StemPlugin(), PluginInfo("flat", "resreg-flat", "0.1", "flat"))
    model = resreg.create_model(small_net_spec(stem="flat"), registry=plugins.registry)
    assert bool((model.conv1.weight == 0.5).all())
    assert not bool((model.layer1[0].conv1.weight == 0.5).any())  # resreg's own block: He init
