"""Highway block plugin: the gate formula, the block contract, and `block: highway` in the ResNet builder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import resreg
from resreg.errors import ConfigError
from resreg.plugins import get_registry

RESNET20_PARAMS = 269_722  # REFERENCE.md, paper Table 6


def highway_class() -> type[nn.Module]:
    return get_registry().get("block", "highway").obj


def reference(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """y = T(x) * F(x) + (1 - T(x)) * shortcut(x), written out from the paper's definition."""
    carry = x if block.downsample is None else block.downsample(x)
    f = torch.relu(block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x))))))
    t = torch.sigmoid(block.gate(x))
    return t * f + (1 - t) * carry


@pytest.mark.parametrize(("in_chs", "planes", "stride"), [(8, 8, 1), (8, 16, 2)])
def test_output_is_the_gated_mix_of_transform_and_carry(in_chs, planes, stride):
    torch.manual_seed(0)
    shortcut = (
        None if stride == 1 else nn.Sequential(nn.Conv2d(in_chs, planes, 1, stride=stride), nn.BatchNorm2d(planes))
    )
    block = highway_class()(in_chs, planes, stride, shortcut).eval()
    x = torch.randn(2, in_chs, 8, 8)
    with torch.no_grad():
        y = block(x)
    assert y.shape == (2, planes * block.expansion, 8 // stride, 8 // stride)
    assert torch.allclose(y, reference(block, x), atol=1e-6)


def test_schema_and_gate_bias():
    entry = get_registry().get("block", "highway")
    # in_chs ... drop_path_rate are the builder's; attn and zero_init_last come from the block template
    assert list(entry.params) == ["gate_bias", "attn", "zero_init_last"]
    assert entry.params["gate_bias"].default == -1.0 and entry.params["gate_bias"].help
    assert highway_class().expansion == 1
    block = highway_class()(4, 4, gate_bias=-3.0)
    assert torch.all(block.gate.bias == -3.0)


def test_dropped_path_leaves_the_carry():
    torch.manual_seed(0)
    block = highway_class()(4, 4, drop_path_rate=1.0).train()
    x = torch.randn(3, 4, 6, 6)
    assert torch.equal(block(x), x)  # stochastic depth drops the gated transform, never the carry


def test_highway_resnet20_from_a_spec():
    model = resreg.create_model({"preset": "resnet20", "block": "highway"})
    blocks = [m for m in model.modules() if isinstance(m, highway_class())]
    assert len(blocks) == 9
    # ResNet-20 plus one 1x1 gate conv with bias per block: 16->16 (x3), 16->32, 32->32 (x2), 32->64, 64->64 (x2)
    gates = 3 * (16 * 16 + 16) + (16 * 32 + 32) + 2 * (32 * 32 + 32) + (32 * 64 + 64) + 2 * (64 * 64 + 64)
    assert sum(p.numel() for p in model.parameters()) == RESNET20_PARAMS + gates
    assert all(torch.all(b.gate.bias == -1.0) for b in blocks)  # the builder's init leaves the gate bias alone
    out = model(torch.randn(2, 3, 32, 32))
    out.logsumexp(1).mean().backward()
    assert out.shape == (2, 10) and all(p.grad is not None for p in model.parameters())


def test_gate_bias_from_the_spec_and_stochastic_depth():
    model = resreg.create_model(
        {"preset": "resnet20", "block": {"type": "highway", "gate_bias": -3}, "drop_path_rate": 0.2, "shortcut": "B"}
    )
    blocks = [m for m in model.modules() if isinstance(m, highway_class())]
    assert all(torch.all(b.gate.bias == -3.0) for b in blocks)
    assert blocks[0].drop_path is None and blocks[-1].drop_path.drop_prob == pytest.approx(0.2)
    assert isinstance(blocks[3].downsample, nn.Sequential)  # option B projection where 16 -> 32


def test_highway_needs_a_shortcut():
    with pytest.raises(ConfigError, match="highway needs a shortcut"):
        resreg.create_model({"preset": "resnet20", "block": "highway", "shortcut": "none"})


def test_bad_gate_bias_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model.block.gate_bias: 'low' is not a valid float"):
        resreg.create_model({"preset": "resnet20", "block": {"type": "highway", "gate_bias": "low"}})
