"""resreg.blocks: the residual-block template a plugin writes a block on, and its attention slot."""

from __future__ import annotations

from typing import Any

import pytest
import timm
import torch
from torch import nn

import resreg
from resreg.blocks import BasicBlock, ResidualBlock
from resreg.registry import Registry


class TwoConv(ResidualBlock):
    """A block written on the template: only its branch.

    Args:
        width: channels inside the branch as a multiple of planes.
    """

    zero_init = "bn2"

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, width: int = 1, **kwargs: Any) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.conv1 = nn.Conv2d(in_chs, width * planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * planes)
        self.conv2 = nn.Conv2d(width * planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))


def projection(in_chs: int, out_chs: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride, bias=False), nn.BatchNorm2d(out_chs))


def test_the_template_owns_shortcut_attention_add_and_activation_after_the_branchs_keys():
    torch.manual_seed(0)
    block = TwoConv(4, 8, 2, projection(4, 8, 2), attn=lambda chs: nn.Conv2d(chs, chs, 1)).eval()
    # the template's modules follow the block's own, as timm orders them (conv, bn, ..., se, downsample)
    assert [k.split(".")[0] for k in block.state_dict()][::2] == ["conv1", "bn1", "bn1", "conv2", "bn2", "bn2", "se",
                                                                  "downsample", "downsample", "downsample"]  # fmt: skip
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = torch.relu(block.se(block.branch(x)) + block.downsample(x))
        assert torch.allclose(block(x), expected, atol=1e-6)


def test_no_shortcut_zero_init_last_and_drop_path():
    plain = TwoConv(4, 4, 1, False, zero_init_last=True)
    assert plain.downsample is None and not plain.residual
    plain.apply_zero_init_last()
    assert not plain.bn2.weight.any()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.equal(plain.eval()(x), torch.zeros_like(x))  # relu(0 * branch + beta=0), no identity added
    dropped = TwoConv(4, 4, 1, None, 1.0).train()
    with torch.no_grad():
        assert torch.equal(dropped(x), torch.relu(x))  # the whole branch dropped: relu(identity)
    assert TwoConv(4, 4).drop_path is None  # no module, no call, for a disabled drop path (as timm)


def test_a_subclass_that_forwards_kwargs_keeps_the_templates_arguments_in_its_schema():
    registry = Registry()
    registry.register("block", "two", TwoConv)
    params = registry.get("block", "two").params
    assert list(params) == ["width", "attn", "zero_init_last"]
    assert params["attn"].type_name() == "attn spec" and params["width"].help.startswith("channels inside")
    assert "so it begins as the identity" in params["zero_init_last"].help


def test_attention_given_as_a_spec_outside_the_registry_says_how_to_build_it():
    with pytest.raises(TypeError, match="build the block through the registry"):
        BasicBlock(4, 4, attn="se")


def test_se_basic_block_is_timms_seresnet18():
    torch.manual_seed(0)
    theirs = timm.create_model("seresnet18").eval()
    ours = resreg.create_model("resnet18", block={"type": "basic", "attn": "se"}).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_attention_arguments_come_from_the_spec():
    model = resreg.create_model(
        "resnet20", depths=[1, 1, 1], block={"type": "basic", "attn": {"type": "se", "rd_ratio": 0.5}}
    )
    assert model.layer1[0].se.fc1.out_channels == 8  # 16 channels x 0.5
    with pytest.raises(resreg.ConfigError, match=r"model\.block\.attn\.rd_ratio: 'half' is not a valid float"):
        resreg.create_model("resnet20", block={"type": "basic", "attn": {"type": "se", "rd_ratio": "half"}})
