"""Squeeze-and-excitation residual blocks (Hu et al. 2018), laid out as timm's SE-ResNets.

Each block is resreg's block contract: `Block(in_chs, planes, stride, shortcut, drop_path_rate, *,
<spec arguments>)` with `expansion` (1 basic, 4 bottleneck); the builder passes `shortcut` already
built (None: identity, a module: the projection, False: no shortcut). The SE module rescales the
channels of the residual branch after its last BN and before the addition, as in the paper's
Figure 3 and timm's `Bottleneck(attn_layer="se")`. Modules are created in timm's order, so the
state-dict keys and their order are timm's (`layer1.0.conv3`, `layer1.0.bn3`, `layer1.0.se.fc1`,
`layer1.0.se.fc2`, `layer1.0.downsample.0`).
"""

from __future__ import annotations

from typing import Literal

import torch
from timm.layers import DropPath, SEModule
from torch import nn


class _SEResidual(nn.Module):
    """What both blocks share: SE on the branch, the shortcut, stochastic depth, the add and ReLU."""

    expansion = 1

    def _init_residual(self, shortcut: nn.Module | bool | None, drop_path_rate: float) -> None:
        self.residual = shortcut is not False  # False: the builder's `shortcut: none` (a plain net)
        self.downsample = shortcut if isinstance(shortcut, nn.Module) else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _finish(self, x: torch.Tensor, out: torch.Tensor, last_act: nn.Module) -> torch.Tensor:
        out = self.se(out)
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.drop_path(out) + identity
        return last_act(out)


class SEBasicBlock(_SEResidual):
    """Two 3x3 convolutions with squeeze-and-excitation (SE-ResNet-18/34).

    Args:
        rd_ratio: squeeze ratio: the SE bottleneck has channels x rd_ratio units (rounded to a multiple of 8).
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
        rd_ratio: float = 1 / 16,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SEModule(planes, rd_ratio=rd_ratio)
        self.act2 = nn.ReLU(inplace=True)
        self._init_residual(shortcut, drop_path_rate)
        self.zero_init_last = zero_init_last

    def init_last_norm(self) -> None:
        """Called by the builder after its weight init."""
        if self.zero_init_last:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        return self._finish(x, self.bn2(self.conv2(out)), self.act2)


class SEBottleneck(_SEResidual):
    """1x1 reduce, 3x3, 1x1 expand with squeeze-and-excitation (SE-ResNet-50/101/152, SE-ResNeXt).

    Args:
        groups: groups of the 3x3 convolution (ResNeXt cardinality; 1 = ResNet).
        base_width: ResNeXt width per group at the first stage (64 = ResNet).
        stride_on: where the stride goes: "3x3" (timm, "ResNet v1.5") or "1x1" (the original ResNet).
        rd_ratio: squeeze ratio: the SE bottleneck has channels x rd_ratio units (rounded to a multiple of 8).
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
        rd_ratio: float = 1 / 16,
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
        self.se = SEModule(out_chs, rd_ratio=rd_ratio)
        self.act3 = nn.ReLU(inplace=True)
        self._init_residual(shortcut, drop_path_rate)
        self.zero_init_last = zero_init_last

    def init_last_norm(self) -> None:
        """Called by the builder after its weight init."""
        if self.zero_init_last:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        return self._finish(x, self.bn3(self.conv3(out)), self.act3)
