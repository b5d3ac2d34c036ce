"""Every registered component of every installed plugin, automatically (as timm's test_models.py does).

The checks are resreg's plugin test kit (`resreg.testing`), the same a plugin author runs on their own
plugin: a preset or block that any plugin registers is covered here without new test code (forward,
backward with a gradient for every parameter, features matching feature_info, a save/load round trip
through a real safetensors file, help and argument descriptions present), plus the spec round trip below.
"""

from __future__ import annotations

import pytest

import resreg
from resreg.plugins import get_plugins, get_registry
from resreg.testing import plugin_checks

REGISTRY = get_registry()
# Depth or width makes these take tens of seconds each on a 2-core CPU, and their smaller siblings
# run the same code: they are tested with `pytest -m huge`.
HUGE = {
    "resnet1202", "preact_resnet1001", "densenet161", "densenet201", "densenet264", "densenet100_k24",
    "densenet_bc250_k24", "densenet_bc190_k40",
}  # fmt: skip


def presets() -> list:
    return [pytest.param(n, marks=pytest.mark.huge) if n in HUGE else n for n in REGISTRY.names("model")]


def generic_checks() -> list:
    checks = [c for info in get_plugins().infos if info.status == "loaded" for c in plugin_checks(info.name)]
    return [pytest.param(c, marks=pytest.mark.huge) if c.name in HUGE else c for c in checks]


@pytest.fixture(params=presets())
def preset(request) -> str:
    return request.param


@pytest.mark.parametrize("check", generic_checks(), ids=str)
def test_generic_checks_of_every_component(check):
    check()


def test_spec_round_trip_rebuilds_the_same_model(preset):
    model = resreg.create_model(preset)
    again = resreg.create_model(model.resreg_spec)
    assert again.resreg_spec == model.resreg_spec
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in again.state_dict().items()} == shapes
    again.load_state_dict(model.state_dict())


def test_num_classes_and_in_chans_are_overridable_everywhere(preset):
    spec = resreg.create_model(preset, num_classes=3, in_chans=1).resreg_spec
    assert spec["num_classes"] == 3 and spec["in_chans"] == 1
