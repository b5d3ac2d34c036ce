"""Batched augmentation on the training device, airbench style: one tensor operation per batch, no PIL.

The random draws of a batch (`draw`) are made on the CPU from a generator the loader seeds with
(seed, epoch, batch index), for the whole GLOBAL batch; each DDP rank then applies the rows it owns
(`AugmentDraw.rows`). So the randomness never depends on the device, the rank or the world size.
The `apply_*` functions take those draws and work on any dtype (uint8 or float) and any device.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F

from resreg.errors import ConfigError

if TYPE_CHECKING:
    from resreg.recipe import AugmentSection

# AlexNet's PCA lighting: eigenvalues and eigenvectors of the RGB covariance of ImageNet pixels on the
# 0..1 scale (the values of fb.resnet.torch, which the ResNet paper's recipe follows).
_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
_PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
_LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601 grey as torchvision rounds it (rgb_to_grayscale): jitter matches it


@dataclass(kw_only=True)
class AugmentOptions:
    """Training-time augmentation (evaluation uses none of it), set by the recipe (the `train.augment` section).

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
    """

    crop_padding: int = 0
    hflip: bool = False
    scale: tuple[int, int] | None = None
    crop_size: int | None = None
    color_jitter: float = 0.0
    lighting: float = 0.0
    normalize: Literal["pixel", "channel"] = "channel"

    @classmethod
    def of(cls, section: AugmentSection) -> AugmentOptions:
        """The options of a recipe's `augment` section (`train.augment`)."""
        values = dataclasses.asdict(section)
        return cls(**values | {"scale": tuple(section.scale) if section.scale else None})

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or (self.crop_size is not None and self.crop_size < 1):
            raise ConfigError(
                "train.augment.crop_padding must be >= 0 and train.augment.crop_size >= 1, "
                f"got {self.crop_padding}, {self.crop_size}"
            )
        if self.scale is not None and not 1 <= self.scale[0] <= self.scale[1]:
            raise ConfigError(
                f"train.augment.scale must be [shortest, longest] with 1 <= shortest <= longest, got {list(self.scale)}"
            )
        if not 0 <= self.color_jitter < 1 or self.lighting < 0:
            raise ConfigError(
                "train.augment.color_jitter must be in [0, 1), train.augment.lighting >= 0, "
                f"got {self.color_jitter}, {self.lighting}"
            )
        if self.normalize not in ("pixel", "channel"):
            raise ConfigError(f"train.augment.normalize must be 'pixel' or 'channel', got {self.normalize!r}")


@dataclass
class AugmentDraw:
    """The random draws of one global batch of n images; a field is None where its option is off.

    where: [n, 2] crop position (top, left) as fractions of the free range; flips: [n] bool;
    jitter: [n, 3] brightness, contrast and saturation factors; lighting: [n, 3] PCA weights;
    short_sides: [n] int64, the resized shorter side (image folders with `scale`).
    """

    where: torch.Tensor | None = None
    flips: torch.Tensor | None = None
    jitter: torch.Tensor | None = None
    lighting: torch.Tensor | None = None
    short_sides: torch.Tensor | None = None

    def rows(self, start: int, stop: int) -> AugmentDraw:
        """The draws of images start..stop-1 (one rank's slice of the global batch)."""
        return AugmentDraw(**{f.name: _slice(getattr(self, f.name), start, stop) for f in fields(self)})


def draw(options: AugmentOptions, n: int, generator: torch.Generator, *, crop: bool) -> AugmentDraw:
    """Draw the randomness of a batch of `n` images, always in the same order (so it is reproducible).

    `crop` says whether the images are cropped at random positions (pad-crop, or a folder's crop).
    """
    d = AugmentDraw()
    if options.scale is not None:
        low, high = options.scale
        d.short_sides = torch.randint(low, high + 1, (n,), generator=generator)
    if crop:
        d.where = torch.rand(n, 2, generator=generator)
    if options.hflip:
        d.flips = torch.rand(n, generator=generator) < 0.5
    if options.color_jitter > 0:
        d.jitter = 1 + options.color_jitter * (2 * torch.rand(n, 3, generator=generator) - 1)
    if options.lighting > 0:
        d.lighting = options.lighting * torch.randn(n, 3, generator=generator)
    return d


def crop_offsets(where: torch.Tensor, free: tuple[int, int]) -> torch.Tensor:
    """Fractions in [0, 1) -> integer (top, left) offsets in [0, free] (free = padded size - crop size)."""
    limits = torch.tensor(free, device=where.device)
    return torch.minimum((where * (limits + 1)).long(), limits)


def apply_crop(images: torch.Tensor, where: torch.Tensor, size: tuple[int, int], padding: int = 0) -> torch.Tensor:
    """Pad every image by `padding` zeros and crop `size` at its own random position, in one gather.

    images: [B, C, H, W] of any dtype; where: [B, 2] draws. Returns [B, C, *size].
    """
    b, _, h, w = images.shape
    if padding:
        images = F.pad(images, (padding,) * 4)
    offsets = crop_offsets(where.to(images.device), (h + 2 * padding - size[0], w + 2 * padding - size[1]))
    # A view of every possible crop, [B, C, top, left, h', w'], from which each image picks its own: one
    # copy of the output, 4x faster on the CPU than indexing each output pixel (benchmarks/augment_throughput.py).
    crops = images.unfold(2, size[0], 1).unfold(3, size[1], 1)
    return crops[torch.arange(b, device=images.device), :, offsets[:, 0], offsets[:, 1]]


def apply_scale_crop(images: torch.Tensor, short_sides: torch.Tensor, where: torch.Tensor, crop: int) -> torch.Tensor:
    """Scale augmentation of in-memory images, what image folders get from PIL: each image resized so its
    shorter side is its own `short_sides` entry, then a `crop` square taken at its `where` position.

    One bilinear `grid_sample` for the batch: each output pixel reads the resized image's pixel, so the
    resized images are never made (no antialiasing: shrinking below the stored size aliases a little).
    images: [B, C, H, W] float; short_sides: [B]; where: [B, 2] draws. Returns [B, C, crop, crop].
    """
    b, _, h, w = images.shape
    device = images.device
    ratio = torch.maximum(short_sides.to(device, torch.float32), torch.tensor(float(crop), device=device)) / min(h, w)
    sizes = torch.stack([h * ratio, w * ratio], dim=1)  # [B, 2] the resized (height, width), >= crop
    free = (sizes - crop).clamp(min=0)
    offsets = torch.minimum((where.to(device) * (free.floor() + 1)).floor(), free.floor())  # as load_crop: top, left
    # In grid_sample's normalised coordinates (align_corners=False), output u in [-1, 1] over the crop reads
    # the original at 2 * (offset + (u + 1) * crop / 2) / resized - 1 = u * crop / resized + shift.
    scale = crop / sizes
    shift = (2 * offsets + crop) / sizes - 1
    theta = torch.zeros(b, 2, 3, device=device, dtype=torch.float32)
    theta[:, 0, 0], theta[:, 0, 2] = scale[:, 1], shift[:, 1]  # x: width
    theta[:, 1, 1], theta[:, 1, 2] = scale[:, 0], shift[:, 0]  # y: height
    grid = F.affine_grid(theta, [b, images.shape[1], crop, crop], align_corners=False).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def apply_flip(images: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Flip left to right the images whose `flips` entry is True (only those are copied twice)."""
    chosen = flips.to(images.device).nonzero().squeeze(1)
    out = images.clone()
    out[chosen] = images[chosen].flip(3)
    return out


def apply_color_jitter(images: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, then saturation (torchvision's blends) on float images in 0..1 [B, C, H, W]."""
    factors = factors.to(images.device, images.dtype)[:, :, None, None, None]  # [B, 3, 1, 1, 1]
    images = (images * factors[:, 0]).clamp(0, 1)
    grey = _grey(images)
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    images = (mean + factors[:, 1] * (images - mean)).clamp(0, 1)
    grey = _grey(images)
    return (grey + factors[:, 2] * (images - grey)).clamp(0, 1)


def apply_lighting(images: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """AlexNet's PCA lighting: add eigvec @ (alpha * eigval) to each RGB image (float, 0..1 scale)."""
    eigval = torch.tensor(_PCA_EIGVAL, device=images.device, dtype=images.dtype)
    eigvec = torch.tensor(_PCA_EIGVEC, device=images.device, dtype=images.dtype)
    rgb = (alphas.to(images.device, images.dtype) * eigval) @ eigvec.T  # [B, 3]
    return images + rgb[:, :, None, None]


def _grey(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:
        return images
    luma = torch.tensor(_LUMA, device=images.device, dtype=images.dtype)
    return (images * luma[:, None, None]).sum(1, keepdim=True)


def _slice(t: torch.Tensor | None, start: int, stop: int) -> torch.Tensor | None:
    return None if t is None else t[start:stop]
