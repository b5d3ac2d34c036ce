"""Batched augmentation on the training device, airbench style: one tensor operation per batch, no PIL.

The random draws of a batch (`draw`) are made on the CPU from a generator the loader seeds with
(seed, epoch, batch index), for the whole GLOBAL batch; each DDP rank then applies the rows it owns
(`AugmentDraw.rows`). So the randomness never depends on the device, the rank or the world size.
The `apply_*` functions take those draws and work on any dtype (uint8 or float) and any device.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from resreg.recipe import AugmentSection

# AlexNet's PCA lighting: eigenvalues and eigenvectors of the RGB covariance of ImageNet pixels on the
# 0..1 scale (the values of fb.resnet.torch, which the ResNet paper's recipe follows).
_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
_PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
_LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601 grey as torchvision rounds it (rgb_to_grayscale): jitter matches it
# Held inside `seeded_global_rngs`: the prefetch thread's RandAugment and the step's mixup and erasing use them at once.
_GLOBAL_RNGS = threading.RLock()


#: the options of training-time augmentation: the recipe's `train.augment` section, one type (see its fields)
AugmentOptions = AugmentSection


@dataclass
class AugmentDraw:
    """The random draws of one global batch of n images; a field is None where its option is off.

    where: [n, 2] crop position (top, left) as fractions of the free range; flips: [n] bool;
    jitter: [n, 3] brightness, contrast and saturation factors; lighting: [n, 3] PCA weights;
    short_sides: [n] int64, the resized shorter side (image folders with `scale`); rand_seeds: [n] int64, the
    seed of each image's RandAugment draws.
    """

    where: torch.Tensor | None = None
    flips: torch.Tensor | None = None
    jitter: torch.Tensor | None = None
    lighting: torch.Tensor | None = None
    short_sides: torch.Tensor | None = None
    rand_seeds: torch.Tensor | None = None

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
    if options.rand_augment is not None:
        d.rand_seeds = torch.randint(0, 2**62, (n,), generator=generator)
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


def apply_rand_augment(images: torch.Tensor, seeds: torch.Tensor, policy: str) -> torch.Tensor:
    """timm's RandAugment (`policy`, e.g. "rand-m9-mstd0.5") on each uint8 image [B, C, H, W], as timm applies
    it: with PIL, one image at a time on the CPU, each from its own seed (so any rank or resume draws the same).
    Grey images go through as RGB (the colour ops then change nothing) and come back grey."""
    transform = _rand_augment(policy)
    out = images.permute(0, 2, 3, 1).cpu().numpy().copy()  # a copy: writing into it must not change `images`
    for i, seed in enumerate(seeds.tolist()):
        picture = Image.fromarray(out[i].squeeze(2) if out.shape[3] == 1 else out[i]).convert("RGB")
        with seeded_global_rngs(seed):
            picture = transform(picture)
        out[i] = np.asarray(picture.convert("L"))[:, :, None] if out.shape[3] == 1 else np.asarray(picture)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device)


@functools.cache
def _rand_augment(policy: str) -> Any:
    from timm.data.auto_augment import rand_augment_transform

    # Ops that move pixels in (rotate, shear, translate) fill with mid grey, timm's default for unknown means.
    return rand_augment_transform(policy, {"img_mean": (128, 128, 128)})


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


@contextlib.contextmanager
def seeded_global_rngs(*entropy: int) -> Iterator[None]:
    """Python's and numpy's global generators seeded from `entropy` (e.g. seed, epoch, batch) inside the block,
    restored after it: timm's RandAugment, RandomErasing and Mixup draw from them, and would otherwise make a
    run depend on everything drawn before (a resumed run would augment differently). One thread at a time
    (another thread's block waits): the generators are global."""
    with _GLOBAL_RNGS:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        seed = int(np.random.SeedSequence([e % 2**63 for e in entropy]).generate_state(1)[0])
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _grey(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:
        return images
    luma = torch.tensor(_LUMA, device=images.device, dtype=images.dtype)
    return (images * luma[:, None, None]).sum(1, keepdim=True)


def _slice(t: torch.Tensor | None, start: int, stop: int) -> torch.Tensor | None:
    return None if t is None else t[start:stop]
