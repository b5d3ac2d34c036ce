"""Built-in plugin: the highway block (Srivastava et al. 2015, "Training Very Deep Networks").

A residual block adds its transform to the shortcut; a highway block mixes them with a learned gate,

    y = T(x) * F(x) + (1 - T(x)) * shortcut(x),    T(x) = sigmoid(Conv1x1(x) + b),

with F two 3x3 conv-BN-ReLU as in the basic block, and b initialised negative so that every block starts
out mostly carrying its input (the paper's -1 to -3). He et al. 2015 cite highway networks as the gated
alternative to identity shortcuts; with `block: highway` in a ResNet spec the three (plain, residual,
highway) compare from configs alone.
"""

from __future__ import annotations

import torch
from timm.layers import DropPath
from torch import nn

import resreg
from resreg.errors import ConfigError
from resreg.registry import Registry


class HighwayBlock(nn.Module):
    """Highway block: y = T*F(x) + (1-T)*shortcut(x), a sigmoid gate T per output channel and position.

    Args:
        gate_bias: initial bias of the gate (negative: start close to carrying the input through).
    """

    expansion = 1
    has_shortcut = True

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
        *,
        gate_bias: float = -1.0,
    ) -> None:
        super().__init__()
        if shortcut is False:  # the builder's shortcut `none`: there would be nothing to carry
            raise ConfigError("block: highway needs a shortcut to carry (A, B, C or D), not shortcut 'none'")
        self.conv1 = nn.Conv2d(in_chs, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.gate = nn.Conv2d(in_chs, planes, kernel_size=1, stride=stride)
        nn.init.constant_(self.gate.bias, gate_bias)
        self.act = nn.ReLU(inplace=True)
        self.downsample = shortcut
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        carry = x if self.downsample is None else self.downsample(x)
        transform = self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))
        gate = torch.sigmoid(self.gate(x))
        # T*F + (1-T)*s written as s + T*(F - s): stochastic depth then drops the gated part, keeping the carry.
        return carry + self.drop_path(gate * (transform - carry))


@resreg.hookimpl
def resreg_register(registry: Registry) -> None:
    registry.register("block", "highway", HighwayBlock)
