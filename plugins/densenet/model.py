"""The DenseNet builder: a spec (growth rate, layers per block, stem, ...) -> a torch.nn.Module.

The module tree, and so the state-dict keys, their order and shapes, are torchvision's and timm's:
`features.{conv0,norm0,pool0,denseblock1,transition1,...,norm5}` then `classifier`. The CIFAR stem of the
paper (one 3x3 conv, no pooling) keeps the same names with `conv0` alone.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

import torch
from timm.layers import BatchNormAct2d, create_classifier
from torch import nn

from resreg.errors import ConfigError
from resreg.features import FeatureInfo

from .layers import DenseBlock, DenseLayer, Transition

# Normalisation of the data the presets were trained on (ImageNet / CIFAR-10), for pretrained_cfg.
_MEAN_STD = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
_INPUT_SIZE = {"imagenet": 224, "cifar": 32}


class DenseNet(nn.Module):
    """A DenseNet with timm's interface: forward_features / forward_head, get_classifier / reset_classifier,
    num_classes, num_features, pretrained_cfg, and features mode (`features_only`, `feature_info`)."""

    def __init__(
        self,
        growth_rate: int,
        block_config: Sequence[int],
        num_init_features: int,
        bn_size: int,
        compression: float,
        drop_rate: float,
        memory_efficient: bool,
        stem: Literal["imagenet", "cifar"],
        num_classes: int,
        in_chans: int,
        features_only: bool,
        out_indices: Sequence[int] | None,
    ) -> None:
        super().__init__()
        if stem == "imagenet":  # 7x7/2 conv, BN-ReLU, 3x3/2 max pool: 1/4 resolution
            layers = [
                ("conv0", nn.Conv2d(in_chans, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", BatchNormAct2d(num_init_features)),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]
            # timm's tap for index 0 is the stem before its pooling (reduction 2)
            info = [{"num_chs": num_init_features, "reduction": 2, "module": "features.norm0"}]
            reduction = 4
        else:  # CIFAR: one 3x3 conv at full resolution; every dense layer starts with its own BN-ReLU
            layers = [("conv0", nn.Conv2d(in_chans, num_init_features, kernel_size=3, padding=1, bias=False))]
            info = [{"num_chs": num_init_features, "reduction": 1, "module": "features.conv0"}]
            reduction = 1
        self.features = nn.Sequential(OrderedDict(layers))

        chs = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, chs, growth_rate, bn_size, drop_rate, memory_efficient)
            self.features.add_module(f"denseblock{i + 1}", block)
            chs += num_layers * growth_rate
            if i == len(block_config) - 1:
                break
            info.append({"num_chs": chs, "reduction": reduction, "module": f"features.denseblock{i + 1}"})
            out_chs = math.floor(chs * compression)  # theta * m of the paper (DenseNet-C)
            self.features.add_module(f"transition{i + 1}", Transition(chs, out_chs, drop_rate))
            chs, reduction = out_chs, reduction * 2
        self.features.add_module("norm5", BatchNormAct2d(chs))
        info.append({"num_chs": chs, "reduction": reduction, "module": "features.norm5"})

        self.num_features = chs
        self.num_classes = num_classes
        self.features_only = features_only
        self.grad_checkpointing = memory_efficient
        self.global_pool, self.classifier = create_classifier(chs, num_classes, pool_type="avg")
        mean, std = _MEAN_STD[stem]
        if in_chans != 3:  # e.g. grey images: one statistic per channel, the average of the colour ones
            mean, std = (sum(mean) / 3,) * in_chans, (sum(std) / 3,) * in_chans
        size = _INPUT_SIZE[stem]
        self.pretrained_cfg: dict[str, Any] = {
            "first_conv": "features.conv0",
            "classifier": "classifier",
            "num_classes": num_classes,
            "input_size": (in_chans, size, size),
            "mean": mean,
            "std": std,
        }
        self._init_weights()
        if features_only:
            self._to_features(info, out_indices)
        else:
            self.feature_info = FeatureInfo(info)

    def _init_weights(self) -> None:
        # torchvision's and timm's initialisation (He normal for convs), so results compare with theirs.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def _to_features(self, info: list[dict[str, Any]], out_indices: Sequence[int] | None) -> None:
        """Keep the layers up to the deepest requested tap and drop the head (timm's features_only)."""
        indices = tuple(range(len(info))) if out_indices is None else tuple(out_indices)
        bad = [i for i in indices if not 0 <= i < len(info)]
        if bad or not indices:
            raise ConfigError(
                f"model.out_indices: {list(indices)} is not a non-empty list of stages in 0..{len(info) - 1} "
                f"(0 = stem, 1..{len(info) - 1} = dense blocks, the last one after norm5)"
            )
        names = [name for name, _ in self.features.named_children()]
        self._taps = {names.index(info[i]["module"].split(".", 1)[1]): i for i in indices}
        self.features = self.features[: max(self._taps) + 1]
        self.feature_info = FeatureInfo(dict(info[i], index=i) for i in indices)
        self.out_indices = indices
        self.num_features = self.feature_info[-1]["num_chs"]
        self.reset_classifier(0)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """timm's switch for what DenseNet calls memory_efficient: recompute each dense layer's concatenation,
        first BN-ReLU and first conv in the backward pass (outputs, gradients and BN statistics unchanged)."""
        self.grad_checkpointing = enable
        for module in self.modules():
            if isinstance(module, DenseLayer):
                module.memory_efficient = enable

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a fresh one for `num_classes` classes (0: no classifier, pooled features out)."""
        self.num_classes = self.pretrained_cfg["num_classes"] = num_classes
        like = self.features.conv0.weight  # the new layer goes where the model is (device, dtype)
        self.classifier = (
            nn.Linear(self.num_features, num_classes, device=like.device, dtype=like.dtype)
            if num_classes > 0
            else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not self.features_only:
            return self.forward_head(self.forward_features(x))
        outputs: dict[int, torch.Tensor] = {}
        for position, layer in enumerate(self.features):
            x = layer(x)
            if position in self._taps:
                outputs[self._taps[position]] = x
        return [outputs[i] for i in self.out_indices]


def densenet(
    *,
    growth_rate: int = 32,
    block_config: list[int] = (6, 12, 24, 16),
    num_init_features: int = 64,
    bn_size: int = 4,
    compression: float = 0.5,
    drop_rate: float = 0.0,
    memory_efficient: bool = False,
    stem: Literal["imagenet", "cifar"] = "imagenet",
    num_classes: int = 1000,
    in_chans: int = 3,
    features_only: bool = False,
    out_indices: list[int] | None = None,
) -> DenseNet:
    """DenseNet (Huang et al. 2017): each layer gets the feature maps of every earlier layer of its block.

    Args:
        growth_rate: channels each dense layer adds (k of the paper).
        block_config: dense layers in each dense block (4 blocks on ImageNet, 3 on CIFAR).
        num_init_features: channels of the first convolution (2k for DenseNet-BC, 16 for the CIFAR DenseNets).
        bn_size: bottleneck width as a multiple of k (DenseNet-B, 1x1 conv to bn_size*k); 0 = no bottleneck.
        compression: fraction of channels a transition keeps (theta; 0.5 = DenseNet-C, 1.0 = none).
        drop_rate: dropout probability after every convolution but the first (the paper uses 0.2 without
            data augmentation).
        memory_efficient: recompute the concatenation, first BN-ReLU and first conv of each layer in the backward
            pass instead of keeping them (about half the activation memory, for extra compute); outputs, gradients
            and BN running statistics are unchanged.
        stem: 'imagenet' (7x7/2 conv, BN-ReLU, 3x3/2 max pool) or 'cifar' (one 3x3 conv).
        num_classes: classes of the linear classifier (0 = none: pooled features out).
        in_chans: channels of the input images.
        features_only: return the feature maps of `out_indices` instead of logits.
        out_indices: stages to return in features mode: 0 = stem, then one per dense block (default all).
    """
    if not growth_rate > 0 or not block_config or min(block_config) < 1 or bn_size < 0:
        raise ConfigError(
            f"model: densenet needs growth_rate > 0, bn_size >= 0 and at least one block of >= 1 layers "
            f"(got growth_rate={growth_rate}, bn_size={bn_size}, block_config={list(block_config)})"
        )
    if not 0 < compression <= 1:
        raise ConfigError(f"model.compression: {compression} is not in (0, 1] (0.5 = DenseNet-C, 1 = none)")
    return DenseNet(
        growth_rate,
        block_config,
        num_init_features,
        bn_size,
        compression,
        drop_rate,
        memory_efficient,
        stem,
        num_classes,
        in_chans,
        features_only,
        out_indices,
    )
