"""Pre-activation blocks (He et al. 2016, "Identity Mappings in Deep Residual Networks", Figure 4e).

BN and ReLU come before each convolution and nothing follows the addition, so the shortcut path is
a clean identity from block to block. A projection shortcut is applied to the pre-activated input,
as in the paper's code. Nets built from them end with a final BN + ReLU (the builder adds it).
"""

from __future__ import annotations

import torch
from timm.layers import DropPath
from torch import nn


class _PreAct(nn.Module):
    expansion = 1
    preact = True  # tells the builder to add the final BN + ReLU before the head

    def _init_residual(self, shortcut: nn.Module | bool | None, drop_path_rate: float) -> None:
        self.residual = shortcut is not False
        self.downsample = shortcut if isinstance(shortcut, nn.Module) else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else None

    def _add(self, x: torch.Tensor, preact: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if not self.residual:
            return out
        identity = x if self.downsample is None else self.downsample(preact)
        if self.drop_path is not None:
            out = self.drop_path(out)
        return out.add_(identity)  # in place: `out` is a fresh conv output


class PreActBasicBlock(_PreAct):
    """BN-ReLU-3x3, BN-ReLU-3x3, then the addition (pre-activation ResNet-110 and -1001 style)."""

    expansion = 1

    def __init__(
        self, in_chs: int, planes: int, stride: int = 1, shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.act = nn.ReLU()
        self._init_residual(shortcut, drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.act(self.norm1(x))
        out = self.conv1(preact)
        out = self.conv2(self.act(self.norm2(out)))
        return self._add(x, preact, out)


class PreActBottleneck(_PreAct):
    """BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (x4), then the addition (pre-activation ResNet-164 and -1001)."""

    expansion = 4

    def __init__(
        self, in_chs: int, planes: int, stride: int = 1, shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        out_chs = planes * self.expansion
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.conv1 = nn.Conv2d(in_chs, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_chs, 1, bias=False)
        self.act = nn.ReLU()
        self._init_residual(shortcut, drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.act(self.norm1(x))
        out = self.conv1(preact)
        out = self.conv2(self.act(self.norm2(out)))
        out = self.conv3(self.act(self.norm3(out)))
        return self._add(x, preact, out)
