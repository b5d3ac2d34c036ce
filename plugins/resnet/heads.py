"""Heads: what follows the last stage. Like stems, the builder adopts a head's children as its own
attributes (`global_pool`, `fc`), so keys match timm and torchvision."""

from __future__ import annotations

from typing import Literal

import torch
from timm.layers import create_classifier
from torch import nn


class ClassifierHead(nn.Module):
    """Global pooling, optional dropout, and a linear classifier.

    Args:
        pool: global pooling: avg (the paper), max, avgmax or catavgmax (see timm.layers).
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self, num_features: int, num_classes: int, *, pool: Literal["avg", "max", "avgmax", "catavgmax"] = "avg",
        drop_rate: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.global_pool, self.fc = create_classifier(num_features, num_classes, pool_type=pool)
        self.drop_rate = drop_rate
        self.pool = pool

    def forward_head(self, owner: nn.Module, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Run on `owner`'s adopted modules (the ones that hold the weights)."""
        x = owner.global_pool(x)
        if self.drop_rate:
            x = nn.functional.dropout(x, p=self.drop_rate, training=owner.training)
        return x if pre_logits else owner.fc(x)

    def reset(self, owner: nn.Module, num_features: int, num_classes: int) -> None:
        """Give `owner` a new classifier for `num_classes` (0: none, the pooled features come out)."""
        owner.global_pool, owner.fc = create_classifier(num_features, num_classes, pool_type=self.pool)
