"""ECA attention and MobileNetV2's inverted residual, written on resreg's block template."""

from __future__ import annotations

from typing import Any

import torch
from timm.layers import EcaModule
from torch import nn

from resreg.blocks import ResidualBlock


def eca(channels: int, *, kernel_size: int | None = None) -> nn.Module:
    """Efficient channel attention (Wang et al. 2020): a 1D convolution across pooled channels, timm's EcaModule.

    Args:
        kernel_size: size of the 1D convolution (default: adapted to the channel count, as in the paper).
    """
    return EcaModule(channels) if kernel_size is None else EcaModule(kernel_size=kernel_size)


class InvertedResidual(ResidualBlock):
    """MobileNetV2's inverted residual (Sandler et al. 2018): 1x1 expand, 3x3 depthwise, 1x1 linear projection.

    Args:
        expand_ratio: channels of the depthwise convolution, as a multiple of the block's input channels.
    """

    zero_init = "bn3"
    act_after_add = False  # a linear bottleneck: nothing follows the addition
    builder_init = True  # He init (fan-out) of its convolutions, as torchvision's MobileNetV2 initialises them

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, expand_ratio: float = 6.0,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        mid = round(in_chs * expand_ratio)
        self.conv1, self.bn1 = nn.Conv2d(in_chs, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = nn.Conv2d(mid, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.act = nn.ReLU6(inplace=True)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))
        return self.bn3(self.conv3(out))
