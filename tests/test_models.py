"""Every registered model preset and block, automatically (as timm's test_models.py does).

A preset or block that any plugin registers is covered here without new test code: forward,
backward with a gradient for every parameter, features matching feature_info, and the
spec -> model -> spec round trip.
"""

from __future__ import annotations

import pytest
import torch

import resreg
from resreg.plugins import get_registry

REGISTRY = get_registry()
# Depth or width makes these take tens of seconds each on a 2-core CPU, and their smaller siblings
# run the same code: they are tested with `pytest -m huge`.
HUGE = {
    "resnet1202", "preact_resnet1001", "densenet161", "densenet201", "densenet264", "densenet100_k24",
    "densenet_bc250_k24", "densenet_bc190_k40",
}  # fmt: skip


def small_input(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    """32x32 images: ImageNet nets reduce 32x, so their last map is 1x1 (BN still sees `batch` values)."""
    return torch.randn(batch, model.pretrained_cfg["input_size"][0], 32, 32)


def presets() -> list:
    return [pytest.param(n, marks=pytest.mark.huge) if n in HUGE else n for n in REGISTRY.names("model")]


def base_preset_for(block_name: str) -> dict:
    """A small CIFAR net with the given block; projection shortcuts so any channel change works."""
    return {"preset": "resnet20", "block": block_name, "depths": [1, 1, 1], "shortcut": "B", "num_classes": 5}


@pytest.fixture(params=presets())
def preset(request) -> str:
    return request.param


def test_forward_and_backward_give_every_parameter_a_gradient(preset):
    torch.manual_seed(0)
    model = resreg.create_model(preset, num_classes=7)
    x = small_input(model)
    out = model(x)
    assert out.shape == (2, 7)
    out.float().pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert torch.isfinite(out).all()


def test_features_match_feature_info(preset):
    model = resreg.create_model(preset, features_only=True).eval()
    x = small_input(model, batch=1)
    with torch.no_grad():
        features = model(x)
    info = list(model.feature_info)
    assert len(features) == len(info) >= 2
    for feature, entry in zip(features, info, strict=True):
        assert feature.shape[1] == entry["num_chs"], entry
        assert x.shape[-1] // feature.shape[-1] == entry["reduction"], entry


def test_spec_round_trip_rebuilds_the_same_model(preset):
    model = resreg.create_model(preset)
    again = resreg.create_model(model.resreg_spec)
    assert again.resreg_spec == model.resreg_spec
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in again.state_dict().items()} == shapes
    again.load_state_dict(model.state_dict())


@pytest.mark.parametrize("block", REGISTRY.names("block"))
def test_every_block_trains_in_a_small_net(block):
    torch.manual_seed(0)
    model = resreg.create_model(base_preset_for(block))
    out = model(torch.randn(2, 3, 16, 16))
    out.logsumexp(1).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"block {block}: no gradient for {missing[:5]}"


@pytest.mark.parametrize("shortcut", REGISTRY.names("shortcut"))
def test_every_shortcut_builds_and_runs(shortcut):
    model = resreg.create_model("resnet20", shortcut=shortcut, depths=[1, 1, 1])
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_num_classes_and_in_chans_are_overridable_everywhere(preset):
    spec = resreg.create_model(preset, num_classes=3, in_chans=1).resreg_spec
    assert spec["num_classes"] == 3 and spec["in_chans"] == 1
