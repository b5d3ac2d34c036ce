"""The CIFAR recipes of He et al. 2015 (section 4.2) and Huang et al. 2017 (DenseNet, section 4.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from resreg.engine.recipe import Recipe


@dataclass(kw_only=True)
class CifarResNet(Recipe):
    """ResNet on CIFAR (He et al. 2015): SGD lr 0.1, /10 at 32k and 48k steps, 64k steps, batch 128.

    Weight decay 1e-4, momentum 0.9, pad-4 random crop and flip, per-pixel mean subtraction. For
    ResNet-110 set warmup_lr: 0.01 (lr 0.01 until the training error is below 80%, about 400 steps);
    val_split: 5000 holds out the paper's 45k/5k split. Arguments: see `Recipe`.
    """

    batch_size: int = 128
    unit: Literal["step", "epoch"] = "step"
    length: float = 64000
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    decay: Literal["step", "cosine", "linear", "constant"] = "step"
    milestones: list[float] = field(default_factory=lambda: [32000, 48000])
    eval_every: float = 1000
    crop_padding: int = 4
    hflip: bool = True
    normalize: Literal["pixel", "channel"] = "pixel"


@dataclass(kw_only=True)
class CifarDenseNet(Recipe):
    """DenseNet on CIFAR (Huang et al. 2017): batch 64, 300 epochs, lr 0.1 /10 at 50% and 75%, Nesterov.

    Weight decay 1e-4, Nesterov momentum 0.9, standard augmentation (C10+: pad-4 crop and flip). The
    paper's runs without augmentation (C10) use dropout 0.2 instead: train.crop_padding=0
    train.hflip=false model.drop_rate=0.2. Arguments: see `Recipe`.
    """

    batch_size: int = 64
    unit: Literal["step", "epoch"] = "epoch"
    length: float = 300
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    decay: Literal["step", "cosine", "linear", "constant"] = "step"
    milestones: list[float] = field(default_factory=lambda: [150, 225])
    eval_every: float = 1
    crop_padding: int = 4
    hflip: bool = True
    normalize: Literal["pixel", "channel"] = "channel"
