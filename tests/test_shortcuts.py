"""Shortcut options A, B, C, D and none (He et al. 2015, 3.3; Bag of Tricks' ResNet-D) against results
computed here by hand: slicing and F.pad for A, F.conv2d and the batch-norm formula with the module's own
weights for the projections, average pooling before the projection for D. In training mode (batch
statistics) and in eval mode (running statistics that are not 0 and 1, so a misplaced BN shows)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resreg.plugins import get_registry

SHAPES = [(8, 16, 2), (8, 8, 1), (8, 16, 1)]  # in_chs, out_chs, stride


def shortcut(name: str, in_chs: int, out_chs: int, stride: int):
    return get_registry().get("shortcut", name).obj(in_chs, out_chs, stride)


def batch_norm_by_hand(x: torch.Tensor, bn: torch.nn.BatchNorm2d, training: bool) -> torch.Tensor:
    if training:  # this batch's statistics (biased variance, as BN normalises with)
        mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    scale = bn.weight / torch.sqrt(var + bn.eps)
    return (x - mean[None, :, None, None]) * scale[None, :, None, None] + bn.bias[None, :, None, None]


def conv1x1_by_hand(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """A 1x1 convolution is a per-pixel matrix product over channels, at every stride-th pixel."""
    x = x[:, :, ::stride, ::stride]
    return torch.einsum("oi,bihw->bohw", weight[:, :, 0, 0], x)


def randomise(module: torch.nn.Module) -> None:
    """Weights, BN affine and running statistics away from their defaults (1, 0, mean 0, var 1)."""
    generator = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.weight.data = torch.randn(m.weight.shape, generator=generator)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 0.5 + torch.rand(m.num_features, generator=generator)
            m.bias.data = torch.randn(m.num_features, generator=generator)
            m.running_mean = torch.randn(m.num_features, generator=generator)
            m.running_var = 0.5 + torch.rand(m.num_features, generator=generator)


def inputs(in_chs: int, size: int = 7) -> torch.Tensor:
    """Odd sides, so stride-2 subsampling and pooling with ceil_mode both have a partial last window."""
    return torch.randn(4, in_chs, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("in_chs", "out_chs", "stride"), SHAPES)
def test_a_subsamples_and_zero_pads_the_new_channels(in_chs, out_chs, stride):
    module = shortcut("A", in_chs, out_chs, stride)
    if (in_chs, stride) == (out_chs, 1):
        assert module is None  # the identity: the block adds its input itself
        return
    x = inputs(in_chs)
    subsampled = x[:, :, ::stride, ::stride]
    size = -(-7 // stride)  # ceil: positions 0, 2, 4, 6 of 7 at stride 2
    assert subsampled.shape[-1] == size
    expected = torch.cat([subsampled, torch.zeros(4, out_chs - in_chs, size, size)], dim=1)
    assert list(module.parameters()) == [] and not list(module.buffers())
    assert torch.equal(module(x), expected)


def test_a_refuses_fewer_channels():
    from resreg.errors import ConfigError

    with pytest.raises(ConfigError, match="option A can only add channels"):
        shortcut("A", 16, 8, 1)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("in_chs", "out_chs", "stride"), SHAPES)
@pytest.mark.parametrize("name", ["B", "C"])
def test_b_and_c_project_with_a_strided_1x1_conv_and_batch_norm(name, in_chs, out_chs, stride, training):
    module = shortcut(name, in_chs, out_chs, stride)
    if name == "B" and (in_chs, stride) == (out_chs, 1):
        assert module is None  # B projects only where the shape changes
        return
    randomise(module)
    conv, bn = module[0], module[1]
    assert conv.weight.shape == (out_chs, in_chs, 1, 1) and conv.bias is None
    x = inputs(in_chs)
    expected = batch_norm_by_hand(conv1x1_by_hand(x, conv.weight, stride), bn, training)
    with torch.no_grad():
        got = module.train(training)(x)
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4)
    assert torch.allclose(F.conv2d(x, conv.weight, stride=stride), conv1x1_by_hand(x, conv.weight, stride), atol=1e-4)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(("in_chs", "out_chs", "stride"), SHAPES)
def test_d_average_pools_then_projects(in_chs, out_chs, stride, training):
    module = shortcut("D", in_chs, out_chs, stride)
    if (in_chs, stride) == (out_chs, 1):
        assert module is None
        return
    randomise(module)
    conv, bn = module[1], module[2]  # downsample.1 / .2, timm's avg_down keys
    x = inputs(in_chs)
    if stride == 1:
        pooled = x
    else:  # 2x2 windows at stride 2; the last, partial window (odd side) averages only the pixels it covers
        padded = F.pad(x, (0, 1, 0, 1))
        ones = F.pad(torch.ones_like(x), (0, 1, 0, 1))
        sums = padded[:, :, 0::2, 0::2] + padded[:, :, 1::2, 0::2] + padded[:, :, 0::2, 1::2] + padded[:, :, 1::2, 1::2]
        counts = ones[:, :, 0::2, 0::2] + ones[:, :, 1::2, 0::2] + ones[:, :, 0::2, 1::2] + ones[:, :, 1::2, 1::2]
        pooled = sums / counts
        assert pooled.shape[-1] == 4
    expected = batch_norm_by_hand(conv1x1_by_hand(pooled, conv.weight, 1), bn, training)
    with torch.no_grad():
        got = module.train(training)(x)
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4)


def test_none_is_no_shortcut_at_all():
    assert shortcut("none", 8, 16, 2) is False


@pytest.mark.parametrize("name", ["A", "B", "C", "D"])
def test_a_block_adds_its_shortcut_to_the_residual_branch(name):
    """In a built network the block's output is relu(branch(x) + shortcut(x)), with the shortcut above."""
    import resreg

    model = resreg.create_model("resnet20", shortcut=name, depths=[1, 1, 1]).eval()
    block = model.layer2[0]  # 16 -> 32 channels at stride 2: every option has work to do
    randomise(block)
    x = inputs(16, 8)
    with torch.no_grad():
        branch = block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x)))))
        expected = torch.relu(branch + block.downsample(x))
        assert torch.allclose(block(x), expected, atol=1e-4)
