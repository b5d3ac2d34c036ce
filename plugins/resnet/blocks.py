"""Post-activation residual blocks of the ResNet paper (Figure 5), with torchvision/timm key names.

Every block follows resreg's block contract: `Block(in_chs, planes, stride, shortcut,
drop_path_rate, *, <spec arguments>)`, output channels `planes * expansion`. The builder passes
`shortcut` already built (see shortcuts.py): None is the identity, False means no shortcut (plain).
"""

from __future__ import annotations

from typing import Literal

import torch
from timm.layers import DropPath
from torch import nn


class _Residual(nn.Module):
    """What all post-activation blocks share: shortcut, stochastic depth, the final add and ReLU."""

    expansion = 1

    def _init_residual(self, shortcut: nn.Module | bool | None, drop_path_rate: float) -> None:
        self.residual = shortcut is not False
        self.downsample = shortcut if isinstance(shortcut, nn.Module) else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else None

    def _add_shortcut(self, x: torch.Tensor, out: torch.Tensor, projected: torch.Tensor | None = None) -> torch.Tensor:
        """out + shortcut(x); a projection reads `projected` when given (pre-activation blocks project the
        pre-activated input). Plain blocks return `out` unchanged."""
        if not self.residual:
            return out
        identity = x if self.downsample is None else self.downsample(x if projected is None else projected)
        if self.drop_path is not None:
            out = self.drop_path(out)
        out += identity  # in place, as timm: one allocation less per block (`out` is a fresh BN/conv output)
        return out


class BasicBlock(_Residual):
    """Two 3x3 convolutions (ResNet-18/34 and the CIFAR nets).

    Args:
        zero_init_last: start the last BN at zero, so the block begins as the identity (Goyal et al. 2017).
    """

    expansion = 1

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
        *,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self._init_residual(shortcut, drop_path_rate)
        self.zero_init_last = zero_init_last

    def init_last_norm(self) -> None:
        if self.zero_init_last:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(self._add_shortcut(x, out))


class Bottleneck(_Residual):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152), with ResNeXt grouping.

    Args:
        groups: groups of the 3x3 convolution (ResNeXt cardinality; 1 = ResNet).
        base_width: ResNeXt width per group at the first stage (64 = ResNet).
        stride_on: where the stride goes: "3x3" (torchvision/timm, "ResNet v1.5") or "1x1" (the paper).
        zero_init_last: start the last BN at zero, so the block begins as the identity (Goyal et al. 2017).
    """

    expansion = 4

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
        *,
        groups: int = 1,
        base_width: int = 64,
        stride_on: Literal["3x3", "1x1"] = "3x3",
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out_chs = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1 = nn.Conv2d(in_chs, width, 1, stride=stride_1x1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride_3x3, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.act3 = nn.ReLU(inplace=True)
        self._init_residual(shortcut, drop_path_rate)
        self.zero_init_last = zero_init_last

    def init_last_norm(self) -> None:
        if self.zero_init_last:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.act3(self._add_shortcut(x, out))


class PlainBlock(BasicBlock):
    """A basic block without its shortcut, whatever the shortcut option: the paper's plain nets.

    Args:
        zero_init_last: start the last BN at zero (rarely useful without a shortcut).
    """

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
        *,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__(in_chs, planes, stride, False, drop_path_rate, zero_init_last=zero_init_last)
