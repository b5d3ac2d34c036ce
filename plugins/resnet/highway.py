"""The highway block (Srivastava et al. 2015) on resreg's block template; registered by plugins/highway.py."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from resreg.blocks import ResidualBlock
from resreg.errors import ConfigError


class HighwayBlock(ResidualBlock):
    """Highway block: y = T*F(x) + (1-T)*shortcut(x), a sigmoid gate T per output channel and position.

    Args:
        gate_bias: initial bias of the gate (negative: start close to carrying the input through).
    """

    expansion = 1
    zero_init = "bn2"
    act_after_add = False  # F ends with its own ReLU; the mix is not activated again

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
        *,
        gate_bias: float = -1.0,
        **kwargs: Any,
    ) -> None:
        if shortcut is False:  # the builder's shortcut `none`: there would be nothing to carry
            raise ConfigError("block: highway needs a shortcut to carry (A, B, C or D), not shortcut 'none'")
        super().__init__(in_chs, planes, stride, shortcut, drop_path_rate, **kwargs)
        self.conv1 = nn.Conv2d(in_chs, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.gate = nn.Conv2d(in_chs, planes, kernel_size=1, stride=stride)
        nn.init.constant_(self.gate.bias, gate_bias)
        self.act = nn.ReLU(inplace=True)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        carry = x if self.downsample is None else self.downsample(x)
        gate = torch.sigmoid(self.gate(x))
        # T*F + (1-T)*s written as s + T*(F - s): stochastic depth then drops the gated part, keeping the carry.
        mixed = gate * (self.attend(self.branch(x)) - carry)
        return carry + (mixed if self.drop_path is None else self.drop_path(mixed))
