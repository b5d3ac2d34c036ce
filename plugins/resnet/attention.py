"""Attention for the residual branch (registry kind `attn`): a factory `channels -> module`, on timm.layers."""

from __future__ import annotations

from timm.layers import SEModule
from torch import nn


def se(channels: int, *, rd_ratio: float = 1 / 16) -> nn.Module:
    """Squeeze-and-excitation (Hu et al. 2018): channel weights from the globally pooled branch, timm's SEModule.

    Args:
        rd_ratio: squeeze ratio: the SE bottleneck has channels x rd_ratio units (rounded to a multiple of 8).
    """
    return SEModule(channels, rd_ratio=rd_ratio)
