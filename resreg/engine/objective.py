"""What one optimizer step minimises, and its gradient: the batch's targets (mixed by mixup / CutMix, or
the labels), the loss on them (cross-entropy or BCE, plus a teacher's distillation term), summed over
`accumulate` micro-batches.

Random erasing and mixing are timm's `RandomErasing` and `Mixup`, which draw from Python's and numpy's
global generators: those are seeded from (seed, step) around each call, so a resumed run erases and mixes
its batches exactly as the uninterrupted run did.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.data.mixup import mixup_target
from timm.data.random_erasing import RandomErasing
from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy

from resreg.data.augment import seeded_global_rngs
from resreg.engine.distill import distillation_loss
from resreg.engine.precision import Precision
from resreg.recipe import Recipe, TeacherSection

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# independent streams of draws for each step: (seed, step, which)
_ERASING, _MIXING = 1, 2


def make_loss(recipe: Recipe) -> Loss:
    """The loss on the logits and the targets: hard labels, or the soft targets of mixed batches."""
    if recipe.loss == "bce":  # ResNet Strikes Back: one sigmoid per class; timm's BCE takes labels or soft targets
        return BinaryCrossEntropy(smoothing=recipe.label_smoothing)
    if recipe.augment.mixes:  # the mixed targets already carry the label smoothing (timm's Mixup puts it there)
        return SoftTargetCrossEntropy()
    return functools.partial(F.cross_entropy, label_smoothing=recipe.label_smoothing)


@dataclass
class Objective:
    """The loss of a training step and its backward pass, as the recipe says.

    Args:
        loss: the loss on (logits, targets).
        erasing: the probability of timm's RandomErasing for each image (0 = off), before mixing as in timm.
        mixer: timm's Mixup of the batch (None = off).
        teacher: the distillation teacher, frozen in eval mode (None = off).
        distill: the distillation term's temperature and weight (the recipe's `train.teacher`).
        accumulate: micro-batches per batch; their gradients add up to the batch's.
        seed: the run's seed (mixing draws from (seed, step)).
    """

    loss: Loss
    erasing: float = 0.0
    mixer: Mixup | None = None
    teacher: torch.nn.Module | None = None
    distill: TeacherSection | None = None
    accumulate: int = 1
    seed: int = 0

    @classmethod
    def of(cls, recipe: Recipe, *, num_classes: int, seed: int, teacher: torch.nn.Module | None = None) -> Objective:
        a = recipe.augment
        mixer = None
        if a.mixes:
            mixer = Mixup(
                mixup_alpha=a.mixup_alpha,
                cutmix_alpha=a.cutmix_alpha,
                label_smoothing=recipe.label_smoothing,
                num_classes=num_classes,
            )
        return cls(
            loss=make_loss(recipe),
            erasing=a.random_erasing,
            mixer=mixer,
            teacher=teacher,
            distill=recipe.teacher,
            accumulate=recipe.accumulate,
            seed=seed,
        )

    def backward(
        self, module: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, step: int, precision: Precision
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one step's batch: the gradients accumulate in the parameters (scaled by
        the precision's grad scaler). Returns the batch's logits and its mean loss, both detached."""
        images, targets = self.mix(images, labels, step=step)
        # A batch an unreadable image was left out of can be smaller than `accumulate`: no empty micro-batch
        # (its mean loss would be NaN, and NaN times its zero share is still NaN).
        pieces = max(1, min(self.accumulate, len(images)))
        parts = list(zip(images.tensor_split(pieces), targets.tensor_split(pieces), strict=True))
        logits_of_parts, mean_loss = [], images.new_zeros((), dtype=torch.float32)
        for index, (x, t) in enumerate(parts):
            share = len(x) / max(1, len(images))  # each micro-batch's mean loss, weighted to the batch's mean
            with _syncs_gradients(module, index == len(parts) - 1):
                with precision.autocast():
                    logits = module(x)
                    loss = self._loss(logits, t, x)
                precision.scaler.scale(loss * share).backward()
            logits_of_parts.append(logits.detach())
            mean_loss += loss.detach().float() * share
        return torch.cat(logits_of_parts), mean_loss

    def mix(self, images: torch.Tensor, labels: torch.Tensor, *, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step `step`'s batch erased and mixed as the recipe says, and its targets (the labels if unmixed)."""
        targets: torch.Tensor = labels
        if self.erasing > 0:  # which images, where: python's generator; the noise: torch's (a checkpoint keeps it)
            with seeded_global_rngs(self.seed, step, _ERASING):
                images = RandomErasing(probability=self.erasing, mode="pixel", device=images.device)(images)
        if self.mixer is not None:
            # timm's Mixup mixes the batch with itself reversed, so it takes an even batch; one left odd by
            # an unreadable image mixes all but its last image, which keeps its (smoothed) label.
            even = len(images) - len(images) % 2
            with seeded_global_rngs(self.seed, step, _MIXING):
                mixed, mixed_targets = self.mixer(images[:even], labels[:even])
            if even == len(images):
                return mixed, mixed_targets
            rest = mixup_target(labels[even:], self.mixer.num_classes, smoothing=self.mixer.label_smoothing)
            return torch.cat([mixed, images[even:]]), torch.cat([mixed_targets, rest])
        return images, targets

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        if not len(logits):
            # Every image of this process's batch was unreadable: every loss here is a mean, NaN over no
            # images. Zero instead, still joined to the graph: under DDP this rank's backward must join
            # the others' gradient all-reduce. Its gradients are zeros.
            return logits.sum() * 0
        loss = self.loss(logits, targets)
        if self.teacher is None or self.distill is None:
            return loss
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        kd = distillation_loss(logits, teacher_logits, self.distill.temperature)
        return (1 - self.distill.weight) * loss + self.distill.weight * kd


def _syncs_gradients(module: torch.nn.Module, last: bool) -> Any:
    """DDP's all-reduce only on the last micro-batch of a step (no_sync before it): one all-reduce per step."""
    ddp = getattr(module, "_orig_mod", module)  # under torch.compile, the DDP module it wraps
    if last or not hasattr(ddp, "no_sync"):
        return contextlib.nullcontext()
    return ddp.no_sync()
