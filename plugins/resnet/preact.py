"""Pre-activation blocks (He et al. 2016, "Identity Mappings in Deep Residual Networks", Figure 4e).

BN and ReLU come before each convolution and nothing follows the addition, so the shortcut path is
a clean identity from block to block. A projection shortcut is applied to the pre-activated input,
as in the paper's code. Nets built from them end with a final BN + ReLU (the builder adds it).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import _Residual


class _PreAct(_Residual):
    """Shares the shortcut handling of the post-activation blocks; nothing follows the addition."""

    preact = True  # tells the builder to add the final BN + ReLU before the head


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
        return self._add_shortcut(x, out, projected=preact)


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
        return self._add_shortcut(x, out, projected=preact)
