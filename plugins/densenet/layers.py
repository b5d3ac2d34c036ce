"""The parts of a DenseNet (Huang et al. 2017): dense layer, dense block, transition.

Module and parameter names are torchvision's and timm's (`denselayer1.norm1`, `transition1.conv`, ...), so
their weights load as they are. The norms are timm's `BatchNormAct2d` (a BatchNorm2d with its ReLU inside):
the same state-dict entries as a plain BatchNorm2d, and the same module tree as timm's DenseNet.
"""

from __future__ import annotations

import torch
from timm.layers import BatchNormAct2d
from torch import nn

from resreg.grad_checkpoint import checkpointed


def _dropout(rate: float) -> nn.Module:
    return nn.Dropout(rate) if rate > 0 else nn.Identity()


class DenseLayer(nn.Module):
    """One dense layer: BN-ReLU-Conv3x3 to `growth_rate` channels, or with `bn_size > 0` the DenseNet-B
    bottleneck BN-ReLU-Conv1x1 (to bn_size * growth_rate) then BN-ReLU-Conv3x3 (to growth_rate).

    It takes the list of all earlier feature maps of its block and returns only its new ones; the block
    concatenates. In memory-efficient mode the concatenation, the first BN-ReLU and the first conv are
    recomputed in the backward pass instead of kept (Pleiss et al. 2017, as torchvision's memory_efficient).
    """

    def __init__(
        self, in_chs: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0, memory_efficient: bool = False
    ) -> None:
        super().__init__()
        self.norm1 = BatchNormAct2d(in_chs)
        if bn_size > 0:
            self.conv1 = nn.Conv2d(in_chs, bn_size * growth_rate, kernel_size=1, bias=False)
            self.norm2 = BatchNormAct2d(bn_size * growth_rate)
            self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chs, growth_rate, kernel_size=3, padding=1, bias=False)
            self.norm2 = self.conv2 = None
        # The paper puts dropout after every convolution but the network's first (section 4, "Training").
        self.drop = _dropout(drop_rate)
        self.memory_efficient = memory_efficient

    def _first_conv(self, *features: torch.Tensor) -> torch.Tensor:
        return self.drop(self.conv1(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled() and any(f.requires_grad for f in features):
            # The recomputation leaves norm1's running statistics alone (see resreg.grad_checkpoint).
            out = checkpointed(self._first_conv, *features, stats_of=self.norm1)
        else:
            out = self._first_conv(*features)
        if self.conv2 is not None:
            out = self.drop(self.conv2(self.norm2(out)))
        return out


class DenseBlock(nn.ModuleDict):
    """`num_layers` dense layers, each fed the concatenation of the block input and every earlier layer's output."""

    def __init__(
        self,
        num_layers: int,
        in_chs: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_chs + i * growth_rate, growth_rate, bn_size, drop_rate, memory_efficient)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """Between dense blocks: BN-ReLU-Conv1x1 (to the compressed width) then 2x2 average pooling."""

    def __init__(self, in_chs: int, out_chs: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm = BatchNormAct2d(in_chs)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size=1, bias=False)
        self.drop = _dropout(drop_rate)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
