"""The last step of every loader: uint8 images on the device -> float, colour-jittered, normalised."""

from __future__ import annotations

import torch

from resreg.data.augment import AugmentDraw, AugmentOptions, apply_color_jitter, apply_lighting, apply_rand_augment
from resreg.data.source import Stats
from resreg.errors import ConfigError


class Normalize:
    """uint8 batch on the device -> float32 in 0..1 -> (jitter, lighting) -> normalised."""

    def __init__(self, stats: Stats, augment: AugmentOptions, device: torch.device, in_chans: int) -> None:
        if len(stats.mean) != in_chans or len(stats.std) != in_chans:
            raise ConfigError(f"normalisation statistics have {len(stats.mean)} channels, the images {in_chans}")
        if augment.lighting > 0 and in_chans != 3:
            raise ConfigError(
                f"train.augment.lighting needs RGB images, these have {in_chans} channel(s): train.augment.lighting=0"
            )
        shape = (in_chans, 1, 1)
        use_image = augment.normalize == "pixel" and stats.mean_image is not None
        # Without a mean image (image folders), "pixel" falls back to the channel mean: over random
        # scales and crops the per-pixel mean of ImageNet is the same in every position anyway.
        mean = stats.mean_image if use_image else torch.tensor(stats.mean).view(shape)
        self.mean = mean.to(device, torch.float32)
        self.std = torch.tensor(stats.std).view(shape).to(device, torch.float32)
        self.rand_augment = augment.rand_augment

    def __call__(self, images: torch.Tensor, d: AugmentDraw | None) -> torch.Tensor:
        if d is not None and d.rand_seeds is not None:  # timm's RandAugment works on the uint8 images
            images = apply_rand_augment(images, d.rand_seeds, self.rand_augment)
        x = images.float().div_(255)
        if d is not None and d.jitter is not None:
            x = apply_color_jitter(x, d.jitter)
        if d is not None and d.lighting is not None:
            x = apply_lighting(x, d.lighting)
        return (x - self.mean) / self.std
