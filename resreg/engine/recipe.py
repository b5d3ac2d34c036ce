"""What a training recipe is: the task's optimiser, lr schedule, length, batch and augmentation.

A recipe plugin registers a subclass of `Recipe` (registry kind `recipe`) whose field defaults are
its paper's values; the `train:` section of a config picks one and overrides any field:

    train: {type: cifar_resnet, warmup_lr: 0.01}

Lengths, milestones, warm-ups and the evaluation cadence are counted in `unit`s: optimizer steps
(the ResNet CIFAR recipe is iteration based) or epochs (DenseNet, ImageNet); the engine converts
them with the number of steps per epoch of the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from resreg.engine.schedule import Schedule

if TYPE_CHECKING:
    from collections.abc import Iterable

    import torch

    from resreg.data.augment import AugmentOptions


@dataclass(kw_only=True)
class Recipe:
    """A training recipe (subclasses change the defaults to their paper's).

    Args:
        batch_size: images per optimizer step, over all processes.
        unit: what length, milestones, warmup and eval_every count: optimizer steps or epochs.
        length: how long to train, in units.
        optimizer: sgd (with momentum) or adamw.
        lr: the peak learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: L2 penalty (SGD) or decoupled weight decay (AdamW).
        decay: lr decay: step (x gamma at each milestone), cosine, linear (to 0 at the end), constant.
        milestones: where a step decay multiplies the lr by gamma, in units.
        gamma: the step and plateau factor.
        warmup: a linear lr ramp from 0 over this many units.
        warmup_lr: a constant lr until the training error falls below warmup_until_error (ResNet-110).
        warmup_until_error: the training error (0..1) that ends the warmup_lr phase.
        plateau_patience: evaluations without a better validation error before lr x gamma (None = off).
        label_smoothing: cross-entropy label smoothing.
        eval_every: units between evaluations (and best-checkpoint checks).
        crop_padding: pad-and-random-crop padding in pixels (4 = the CIFAR recipe).
        hflip: random horizontal flips.
        scale: shorter side drawn in [a, b] before cropping (ImageNet: [256, 480]).
        crop_size: random crop size after scaling (ImageNet: 224).
        color_jitter: colour augmentation strength.
        lighting: AlexNet PCA lighting noise std (0.1).
        normalize: channel (mean/std per channel) or pixel (subtract the per-pixel mean image).
        val_split: hold out the last N training images as validation (45k/5k: 5000), if the data set
            takes val_split and its spec does not set it.
        snapshots: a snapshot ensemble (Huang et al. 2017): M cosine cycles, the model saved at the end
            of each, and an ensemble config of the M snapshots (0 = off).
    """

    batch_size: int = 128
    unit: Literal["step", "epoch"] = "epoch"
    length: float = 10
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    decay: Literal["step", "cosine", "linear", "constant"] = "step"
    milestones: list[float] = field(default_factory=list)
    gamma: float = 0.1
    warmup: float = 0
    warmup_lr: float | None = None
    warmup_until_error: float = 0.8
    plateau_patience: int | None = None
    label_smoothing: float = 0.0
    eval_every: float = 1
    crop_padding: int = 0
    hflip: bool = False
    scale: list[int] | None = None
    crop_size: int | None = None
    color_jitter: float = 0.0
    lighting: float = 0.0
    normalize: Literal["pixel", "channel"] = "channel"
    val_split: int = 0
    snapshots: int = 0

    def steps(self, units: float, steps_per_epoch: int) -> int:
        """Units (steps or epochs) -> optimizer steps."""
        return round(float(units) * (steps_per_epoch if self.unit == "epoch" else 1))

    def total_steps(self, steps_per_epoch: int) -> int:
        return max(1, self.steps(self.length, steps_per_epoch))

    def eval_every_steps(self, steps_per_epoch: int) -> int:
        return max(1, self.steps(self.eval_every, steps_per_epoch))

    def augment(self) -> AugmentOptions:
        from resreg.data.augment import AugmentOptions

        return AugmentOptions(
            crop_padding=self.crop_padding,
            hflip=self.hflip,
            scale=tuple(self.scale) if self.scale else None,
            crop_size=self.crop_size,
            color_jitter=self.color_jitter,
            lighting=self.lighting,
            normalize=self.normalize,
        )

    def check_eval_splits(self, splits: list[str], data_name: str) -> None:
        """Refuse a plateau rule with no val split evaluated: it watches the val error, and would never fire."""
        if self.plateau_patience is not None and "val" not in splits:
            from resreg.errors import ConfigError

            evaluated = f"eval.splits evaluates {', '.join(splits) or 'nothing'} of data set {data_name!r}"
            raise ConfigError(
                f"train.plateau_patience={self.plateau_patience} watches the val error, but {evaluated}; give the "
                "data set a val split (data.val_split=N, or data.val_dir for an image folder) and evaluate it, "
                "or set train.plateau_patience=null train.milestones=[...]"
            )

    def data_args(self) -> dict[str, Any]:
        """Arguments the recipe adds to the data set spec (where the spec leaves them unset)."""
        return {"val_split": self.val_split} if self.val_split else {}

    def build_optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        import torch

        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            params, lr=self.lr, momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.weight_decay
        )

    def build_schedule(self, steps_per_epoch: int) -> Schedule:
        return Schedule(
            lr=self.lr,
            total_steps=self.total_steps(steps_per_epoch),
            decay="cosine" if self.snapshots > 1 else self.decay,
            cycles=max(1, self.snapshots),
            milestones=[self.steps(m, steps_per_epoch) for m in self.milestones],
            gamma=self.gamma,
            warmup_steps=self.steps(self.warmup, steps_per_epoch),
            warmup_lr=self.warmup_lr,
            warmup_until_error=self.warmup_until_error,
            plateau_patience=self.plateau_patience,
        )
