"""The ImageNet recipes of He et al. 2015 (section 3.4) and Huang et al. 2017."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from resreg.engine.recipe import Recipe


@dataclass(kw_only=True)
class ImageNetResNet(Recipe):
    """ResNet on ImageNet (He et al. 2015): batch 256, lr 0.1 /10 when the validation error plateaus.

    Up to 60e4 iterations (120 epochs at batch 256), weight decay 1e-4, momentum 0.9, shorter side
    random in [256, 480], 224 crop, flip, PCA lighting. Fixed epochs instead of the plateau rule:
    train.plateau_patience=null train.milestones=[30,60,90]. Evaluate with 10 crops
    (eval.ten_crop=true) or multi-scale (eval.scales=[224,256,384,480,640]). Arguments: see `Recipe`.
    """

    batch_size: int = 256
    unit: Literal["step", "epoch"] = "epoch"
    length: float = 120
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    decay: Literal["step", "cosine", "linear", "constant"] = "step"
    plateau_patience: int | None = 5
    eval_every: float = 1
    hflip: bool = True
    scale: list[int] | None = field(default_factory=lambda: [256, 480])
    crop_size: int | None = 224
    lighting: float = 0.1
    normalize: Literal["pixel", "channel"] = "channel"


@dataclass(kw_only=True)
class ImageNetDenseNet(ImageNetResNet):
    """DenseNet on ImageNet (Huang et al. 2017): 90 epochs, lr 0.1 /10 at epochs 30 and 60, Nesterov.

    Batch 256, weight decay 1e-4, Nesterov momentum 0.9, the ResNet ImageNet augmentation.
    Arguments: see `Recipe`.
    """

    length: float = 90
    nesterov: bool = True
    milestones: list[float] = field(default_factory=lambda: [30, 60])
    plateau_patience: int | None = None
