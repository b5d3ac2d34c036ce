"""The two sections of a recipe: `schedule` (how the lr moves) and `augment` (what training images go through).

`AugmentSection` is also the data layer's `resreg.data.augment.AugmentOptions`: one type, which the loader
reads as it is (the recipe sits below the data layer, so the type lives here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from resreg.errors import ConfigError
from resreg.recipe.units import Count
from resreg.schedule import LrRules


@dataclass(kw_only=True)
class ScheduleSection(LrRules):
    """The lr schedule of a recipe (`train.schedule`): `LrRules` plus milestones and warm-up as counts.

    Args:
        milestones: where a step decay multiplies the lr by gamma (counts: bare numbers in the recipe's unit).
        warmup: a linear lr ramp from 0 over this count, at the start of the first cycle.
    """

    milestones: list[Count] = field(default_factory=list)
    warmup: Count = 0


@dataclass(kw_only=True)
class AugmentSection:
    """Training-time augmentation (`train.augment`); evaluation uses none of it.

    Args:
        crop_padding: pixels of padding on each side before a random crop back to size (4 on CIFAR). The
            padding is added after normalisation, so it is the mean, as in the ResNet CIFAR recipe.
        hflip: flip half of the images left to right.
        scale: shorter side resized to a random length in [a, b] before the crop (ImageNet: [256, 480]); image
            folders resize with PIL, in-memory sets by `apply_scale_crop` on the device. Evaluation then
            resizes the shorter side to crop_size / 0.875 and takes the centre crop.
        crop_size: side of the square crop (default: the data set's image size; ImageNet: 224).
        color_jitter: brightness, contrast and saturation each scaled by a factor in [1 - x, 1 + x].
        lighting: std of AlexNet's PCA lighting noise (0.1 in the ResNet recipe); needs RGB images.
        normalize: "channel" (subtract the mean, divide by the std of each channel) or "pixel" (subtract
            the mean image of the train split, as the ResNet CIFAR recipe does, then divide by the channel std).
        rand_augment: timm's RandAugment policy string (e.g. "rand-m9-mstd0.5"), applied to each image
            before normalisation (None = off).
        random_erasing: the probability that an image gets a random rectangle of normal noise (timm's
            RandomErasing, mode "pixel"), after normalisation.
        mixup_alpha: mixup's Beta(alpha, alpha) (0 = off); mixed with the recipe's label smoothing, as timm does.
        cutmix_alpha: CutMix's Beta(alpha, alpha) (0 = off); with mixup too, each batch is one or the other.
    """

    crop_padding: int = 0
    hflip: bool = False
    scale: list[int] | None = None
    crop_size: int | None = None
    color_jitter: float = 0.0
    lighting: float = 0.0
    normalize: Literal["pixel", "channel"] = "channel"
    rand_augment: str | None = None
    random_erasing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0

    def __post_init__(self) -> None:
        at = "train.augment."
        if self.crop_padding < 0 or (self.crop_size is not None and self.crop_size < 1):
            raise ConfigError(f"{at}crop_padding must be >= 0 and {at}crop_size >= 1, got {self.crop_padding}, "
                              f"{self.crop_size}")  # fmt: skip
        if self.scale is not None and not (len(self.scale) == 2 and 1 <= self.scale[0] <= self.scale[1]):
            raise ConfigError(
                f"{at}scale must be [shortest, longest] with 1 <= shortest <= longest, got {list(self.scale)}"
            )
        if not 0 <= self.color_jitter < 1 or self.lighting < 0:
            raise ConfigError(f"{at}color_jitter must be in [0, 1) and {at}lighting >= 0, got {self.color_jitter}, "
                              f"{self.lighting}")  # fmt: skip
        if self.normalize not in ("pixel", "channel"):
            raise ConfigError(f"{at}normalize must be 'pixel' or 'channel', got {self.normalize!r}")
        if not 0 <= self.random_erasing <= 1 or self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ConfigError(f"{at}random_erasing must be in [0, 1], {at}mixup_alpha and {at}cutmix_alpha >= 0, got "
                              f"{self.random_erasing}, {self.mixup_alpha}, {self.cutmix_alpha}")  # fmt: skip
        if self.rand_augment is not None:
            _check_rand_augment(self.rand_augment)

    @property
    def mixes(self) -> bool:
        """Whether batches are mixed (mixup or CutMix): the targets are then soft."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def _check_rand_augment(policy: str) -> None:
    from timm.data.auto_augment import rand_augment_transform

    try:
        rand_augment_transform(policy, {})
    except (AssertionError, ValueError, KeyError, IndexError) as exc:
        raise ConfigError(
            f"train.augment.rand_augment={policy!r}: not a timm RandAugment policy ({exc or 'bad format'}); "
            "e.g. rand-m9-mstd0.5 (m: magnitude 0..10, n: ops per image, mstd: magnitude noise)"
        ) from None
