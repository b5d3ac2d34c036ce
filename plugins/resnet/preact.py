"""Pre-activation blocks (He et al. 2016, "Identity Mappings in Deep Residual Networks", Figure 4e).

BN and ReLU come before each convolution and nothing follows the addition, so the shortcut path is
a clean identity from block to block. The template (`resreg.blocks.PreActResidualBlock`) owns the first
BN-ReLU, which a projection shortcut reads too, as in the paper's code; each block here writes the rest
of its branch. `zero_init_last` zeroes the last convolution, as timm's ResNetV2 does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from resreg.blocks import PreActResidualBlock


class PreActBasicBlock(PreActResidualBlock):
    """BN-ReLU-3x3, BN-ReLU-3x3, then the addition (pre-activation ResNet-110 and -1001 style)."""

    expansion = 1
    zero_init = "conv2"

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)

    def branch(self, preact: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.norm2(self.conv1(preact))))


class PreActBottleneck(PreActResidualBlock):
    """BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (x4), then the addition (pre-activation ResNet-164 and -1001)."""

    expansion = 4
    zero_init = "conv3"

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.conv1 = nn.Conv2d(in_chs, planes, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.norm3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, self.out_chs, 1, bias=False)

    def branch(self, preact: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.act(self.norm2(self.conv1(preact))))
        return self.conv3(self.act(self.norm3(out)))
