"""The ResNet builder: stem -> stages of blocks (with their shortcuts) -> head, from a spec.

    {type: resnet, block: bottleneck, depths: [3, 4, 6, 3], widths: [64, 128, 256, 512],
     stem: imagenet, shortcut: B, head: classifier}

Modules are laid out as in torchvision and timm (`conv1`, `bn1`, `layer1.0.conv1`,
`layer1.0.downsample.0`, `fc`), so their weights load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from resreg.blocks import init_weights
from resreg.errors import ConfigError
from resreg.features import FeatureInfo
from resreg.grad_checkpoint import checkpointed
from resreg.registry import Registry, mark_origin, origin_of
from resreg.schema import ref

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNet(nn.Module):
    """A residual (or plain, or highway) network assembled from registered components."""

    def __init__(
        self,
        *,
        stem: nn.Module,
        stages: Sequence[nn.Sequential],
        stage_chs: Sequence[int],
        stage_reductions: Sequence[int],
        final_norm: bool,
        head: nn.Module | None,
        num_classes: int,
        in_chans: int,
        input_size: int,
        out_indices: Sequence[int] | None,
    ) -> None:
        super().__init__()
        # Adopt the stem's and head's children so keys are `conv1`, `fc`, not `stem.conv1`.
        self.stem_names = [name for name, _ in stem.named_children()]
        self.stem_feature_module = stem.feature_module
        for name, module in stem.named_children():
            self.add_module(name, _adopted(module, stem))
        for i, stage in enumerate(stages, start=1):
            self.add_module(f"layer{i}", stage)
        self.num_stages = len(stages)
        self.num_features = stage_chs[-1]
        # Pre-activation nets end with BN + ReLU; named as timm's ResNetV2 (`norm`).
        self.norm = nn.Sequential(nn.BatchNorm2d(self.num_features), nn.ReLU(inplace=True)) if final_norm else None
        self.feature_info = FeatureInfo(
            [{"num_chs": stem.out_chs, "reduction": stem.feature_reduction, "module": stem.feature_module}]
            + [
                {"num_chs": chs, "reduction": red, "module": f"layer{i}"}
                for i, (chs, red) in enumerate(zip(stage_chs, stage_reductions, strict=True), start=1)
            ]
        )
        self.out_indices = None if out_indices is None else list(out_indices)
        if self.out_indices is not None:
            self.feature_info = FeatureInfo(self.feature_info[i] for i in self.out_indices)
        self.__dict__["head_impl"] = head  # behaviour only: its modules are adopted just below
        self.num_classes = num_classes if head is not None else 0
        if head is not None:
            for name, module in head.named_children():
                self.add_module(name, _adopted(module, head))
        first_conv = "conv1.0" if isinstance(getattr(self, "conv1", None), nn.Sequential) else "conv1"
        self.pretrained_cfg: dict[str, Any] = {
            "first_conv": first_conv,
            "classifier": "fc",
            "num_classes": self.num_classes,
            "input_size": (in_chans, input_size, input_size),
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
        }
        self.grad_checkpointing = False  # see set_grad_checkpointing

    # --- timm's model API -------------------------------------------------------------------------
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in the backward pass instead of keeping them, as timm's
        `set_grad_checkpointing`: far less activation memory for about one more forward pass of compute.
        Outputs, gradients and BN running statistics are unchanged (see resreg.grad_checkpoint)."""
        self.grad_checkpointing = enable

    def _stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        stage = getattr(self, f"layer{i}")
        if not (self.grad_checkpointing and self.training and torch.is_grad_enabled()):
            return stage(x)
        for block in stage:
            x = checkpointed(block, x, stats_of=block)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stem_names:
            x = getattr(self, name)(x)
        for i in range(1, self.num_stages + 1):
            x = self._stage(i, x)
        return x if self.norm is None else self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head_impl.forward_head(self, x, pre_logits)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of the stem (index 0) and of every stage (1..), as timm numbers features."""
        outputs = []
        for name in self.stem_names:
            x = getattr(self, name)(x)
            if name == self.stem_feature_module:
                outputs.append(x)
        for i in range(1, self.num_stages + 1):
            x = self._stage(i, x)
            outputs.append(self.norm(x) if self.norm is not None and i == self.num_stages else x)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.out_indices is not None:
            outputs = self.forward_intermediates(x)
            return [outputs[i] for i in self.out_indices]
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.head_impl.reset(self, self.num_features, num_classes)
        self.num_classes = self.pretrained_cfg["num_classes"] = num_classes


def resnet(
    registry: Registry,
    /,
    *,
    block: ref("block") = "basic",
    depths: list[int] = (2, 2, 2, 2),
    widths: list[int] = (64, 128, 256, 512),
    strides: list[int] | None = None,
    stem: ref("stem") = "imagenet",
    shortcut: ref("shortcut") = "B",
    head: ref("head") = "classifier",
    drop_path_rate: float = 0.0,
    num_classes: int = 1000,
    in_chans: int = 3,
    input_size: int | None = None,
    features_only: bool = False,
    out_indices: list[int] | None = None,
) -> ResNet:
    """ResNets, plain nets, pre-activation nets, ResNeXts and more: stem, stages of blocks, head.

    `registry` is the one the model is built from (`create_model` hands it over); the stem, blocks,
    shortcuts and head of the spec are built from it.

    Args:
        block: the block of every stage (basic, bottleneck, preact_basic, preact_bottleneck, plain, ...).
        depths: blocks per stage ([2, 2, 2, 2] for ResNet-18, [n, n, n] for the CIFAR nets).
        widths: planes per stage; a block outputs planes x its expansion (4 for bottlenecks).
        strides: stride of each stage's first block (default: 1, then 2 for every later stage).
        stem: the layers before the first stage (imagenet, cifar, deep).
        shortcut: the paper's shortcut option: A (zero-pad), B (projection where shapes change), C (always), D, none.
        head: what follows the last stage (classifier).
        drop_path_rate: stochastic depth: the drop probability of the last block; it grows linearly from 0.
        num_classes: classes of the classifier (0: return pooled features).
        in_chans: channels of the input images.
        input_size: the training image size this net is meant for (default: 224, or 32 for the cifar stem).
        features_only: return the feature maps of `out_indices` instead of logits (no head).
        out_indices: which features: 0 is the stem's output, 1.. the stages (default: all).
    """
    depths, widths = list(depths), list(widths)
    if len(depths) != len(widths):
        raise ConfigError(f"depths: {len(depths)} stages ({depths}) but widths has {len(widths)} ({widths})")
    if not depths or any(d < 0 for d in depths):
        raise ConfigError(f"depths: every stage needs 0 or more blocks and there is at least one stage, got {depths}")
    strides = [1] + [2] * (len(depths) - 1) if strides is None else list(strides)
    if len(strides) != len(depths):
        raise ConfigError(f"strides: {len(strides)} values but {len(depths)} stages")

    stem_module = registry.build("stem", stem, in_chans, where="stem")
    block_cls = registry.partial("block", block, where="block")
    block_class = getattr(block_cls, "func", block_cls)
    make_shortcut = registry.partial("shortcut", shortcut, where="shortcut")
    expansion = getattr(block_class, "expansion", 1)

    total_blocks, done = sum(depths), 0
    in_chs, reduction = stem_module.out_chs, stem_module.reduction
    stages, stage_chs, stage_reductions = [], [], []
    for depth, planes, stride in zip(depths, widths, strides, strict=True):
        blocks = []
        for i in range(depth):
            block_stride = stride if i == 0 else 1
            out_chs = planes * expansion
            # Linear decay rule of Huang et al. 2016 (stochastic depth): 0 at the first block.
            rate = drop_path_rate * done / max(total_blocks - 1, 1)
            blocks.append(block_cls(in_chs, planes, block_stride, make_shortcut(in_chs, out_chs, block_stride), rate))
            in_chs, done = out_chs, done + 1
        reduction *= stride
        stages.append(nn.Sequential(*blocks))
        stage_chs.append(in_chs)
        stage_reductions.append(reduction)

    if out_indices is not None:
        bad = [i for i in out_indices if not 0 <= i <= len(depths)]
        if bad:
            raise ConfigError(f"out_indices: {bad} out of range; valid: 0 (stem) to {len(depths)}")
    if features_only and out_indices is None:
        out_indices = list(range(len(depths) + 1))
    if features_only:  # stages after the deepest requested feature are never run: drop them, as timm does
        keep = max(max(out_indices), 1)
        stages, stage_chs, stage_reductions = stages[:keep], stage_chs[:keep], stage_reductions[:keep]
    head_module = None if features_only else registry.build("head", head, in_chs, num_classes, where="head")
    is_cifar = stem_module.reduction == 1
    model = ResNet(
        stem=stem_module,
        stages=stages,
        stage_chs=stage_chs,
        stage_reductions=stage_reductions,
        final_norm=getattr(block_class, "preact", False) and len(stages) == len(depths),
        head=head_module,
        num_classes=num_classes,
        in_chans=in_chans,
        input_size=input_size or (32 if is_cifar else 224),
        out_indices=out_indices if features_only else None,
    )
    init_weights(model)
    return model


def _adopted(child: nn.Module, component: nn.Module) -> nn.Module:
    """A stem's or head's child, marked as part of that component (whose weights `init_weights` may not touch)."""
    origin = origin_of(component)
    if origin is not None:
        mark_origin(child, origin)
    return child
