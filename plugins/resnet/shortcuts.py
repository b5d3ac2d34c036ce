"""Shortcut (identity path) options of the ResNet paper, section 3.3, plus ResNet-D and none.

A shortcut factory is called by the builder once per block as `factory(in_chs, out_chs, stride)`
and returns what the block puts at `block.downsample` (the torchvision/timm key):
    None      the identity (only valid where shapes agree),
    a module  the shortcut to apply to the block input,
    False     no shortcut at all: the block is plain (the paper's plain nets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resreg.errors import ConfigError

NO_SHORTCUT = False


class ZeroPadIdentity(nn.Module):
    """Option A: subsample by `stride` and append zero channels. No parameters."""

    def __init__(self, stride: int, extra_chs: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_chs = extra_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_chs))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_chs={self.extra_chs}"


def _projection(in_chs: int, out_chs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_chs))


def shortcut_a(in_chs: int, out_chs: int, stride: int) -> nn.Module | None:
    """A: identity; where dimensions grow, subsample and zero-pad the new channels (no parameters)."""
    if out_chs < in_chs:
        raise ConfigError(
            f"shortcut: option A can only add channels, but a block goes from {in_chs} to {out_chs}; "
            "use B or C where channels shrink"
        )
    if stride == 1 and in_chs == out_chs:
        return None
    return ZeroPadIdentity(stride, out_chs - in_chs)


def shortcut_b(in_chs: int, out_chs: int, stride: int) -> nn.Module | None:
    """B: identity, and a 1x1 convolution + BN projection only where the shape changes."""
    if stride == 1 and in_chs == out_chs:
        return None
    return _projection(in_chs, out_chs, stride)


def shortcut_c(in_chs: int, out_chs: int, stride: int) -> nn.Module:
    """C: a 1x1 convolution + BN projection on every block."""
    return _projection(in_chs, out_chs, stride)


def shortcut_d(in_chs: int, out_chs: int, stride: int) -> nn.Module | None:
    """D (Bag of Tricks, timm's avg_down): 2x2 average pool, then 1x1 convolution + BN, where the shape changes."""
    if stride == 1 and in_chs == out_chs:
        return None
    # Identity at stride 1 keeps the timm key layout (downsample.1 = conv, downsample.2 = BN) in every stage.
    pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
    return nn.Sequential(pool, nn.Conv2d(in_chs, out_chs, kernel_size=1, bias=False), nn.BatchNorm2d(out_chs))


def shortcut_none(in_chs: int, out_chs: int, stride: int) -> bool:
    """none: no shortcut; every block is plain (the paper's plain networks)."""
    return NO_SHORTCUT
