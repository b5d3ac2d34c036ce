"""Stems: the layers before the first stage.

A stem is an `nn.Module` whose children the builder adopts as its own attributes, in order, so
that state-dict keys are timm's and torchvision's (`conv1`, `bn1`, ...), not `stem.conv1`. It
reports `out_chs` and `reduction` (the spatial stride of its output) and `feature_module` (the
child whose output is feature 0 in features mode, as timm's feature_info says).
"""

from __future__ import annotations

from torch import nn


class ImageNetStem(nn.Module):
    """7x7 stride-2 convolution, BN, ReLU, 3x3 stride-2 max-pool (ResNet paper, Table 1).

    Args:
        width: output channels of the convolution.
    """

    def __init__(self, in_chans: int, *, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.out_chs, self.reduction, self.feature_module, self.feature_reduction = width, 4, "act1", 2


class DeepStem(nn.Module):
    """Three 3x3 convolutions (the first with stride 2), BN, ReLU, max-pool: ResNet-C/D, timm's `deep` stem.

    Args:
        width: channels of the first two convolutions; the third gives twice as many.
    """

    def __init__(self, in_chans: int, *, width: int = 32) -> None:
        super().__init__()
        out = 2 * width
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 3, padding=1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(out)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.out_chs, self.reduction, self.feature_module, self.feature_reduction = out, 4, "act1", 2


class CifarStem(nn.Module):
    """One 3x3 convolution at full resolution (ResNet paper, section 4.2), then BN and ReLU.

    Args:
        width: output channels (16 in the paper).
        norm: follow the convolution with BN + ReLU; pre-activation nets leave that to their first block.
    """

    def __init__(self, in_chans: int, *, width: int = 16, norm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, width, kernel_size=3, padding=1, bias=False)
        if norm:
            self.bn1 = nn.BatchNorm2d(width)
            self.act1 = nn.ReLU(inplace=True)
        self.out_chs, self.reduction = width, 1
        self.feature_module, self.feature_reduction = ("act1" if norm else "conv1"), 1
