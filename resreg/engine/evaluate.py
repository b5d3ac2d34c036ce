"""Evaluation: loss, top-1 and top-5 error on a split, optionally with 10-crop or multi-scale testing.

10-crop (He et al. 2015, 3.4): the image resized by 8/7 (224 -> 256), its four corner crops, centre
crop and their mirrors; multi-scale: the whole image at several shorter sides, fully convolutionally
(the network ends in global pooling). Views are combined by averaging softmax scores. The views are
made from the batch the eval loader yields (the centre-cropped image), resized on the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import ten_crop

from resreg.artifact import Preprocessing
from resreg.config.options import EvalOptions
from resreg.config.run_config import RunConfig
from resreg.data.augment import AugmentOptions
from resreg.data.loader import make_loader
from resreg.engine.assemble import build_data, build_model
from resreg.engine.checkpoint import Checkpoint, restore_weights
from resreg.engine.distributed import Dist, all_sum, pick_device, processes_sharing_cores
from resreg.engine.precision import Precision
from resreg.errors import ConfigError, DataError, did_you_mean
from resreg.models import load_pretrained
from resreg.registry import Registry

#: the splits a data set may have for evaluation, in the order they are evaluated.
SPLITS = ("val", "test")


def eval_splits(data: Any, splits: list[str] | None) -> dict[str, Any]:
    """The splits of `data` (a DataSource) to evaluate: every one it has when `splits` is None, else those
    named, each of which it must have (a missing split is an error, never skipped: the plateau rule and
    best checkpoints watch the val error)."""
    have = {name: getattr(data, name) for name in SPLITS if getattr(data, name, None) is not None}
    if splits is None:
        return have
    for split in splits:
        if split not in SPLITS:
            raise ConfigError("eval.splits: " + did_you_mean(split, SPLITS, "split"))
        if split not in have:
            fix = "data.val_split=N (held-out train images), data.val_dir (folders), or " if split == "val" else ""
            raise DataError(
                f"eval.splits: data set {data.name!r} has no {split!r} split (it has: {', '.join(have) or 'none'}); "
                f"set {fix}eval.splits=[{', '.join(have)}]"
            )
    return {split: have[split] for split in dict.fromkeys(splits)}


def make_eval_loaders(data: Any, augment: AugmentOptions, options: EvalOptions, info: Dist) -> dict[str, Any]:
    """Loaders of the splits `eval.splits` names (every split the data set has when it names none),
    normalised as in training; a named split the data set lacks is an error."""
    loaders = {}
    for split, source in eval_splits(data, options.splits).items():
        loaders[split] = make_loader(
            source, batch_size=options.batch_size, train=False, augment=augment, device=info.device,
            seed=0, rank=info.rank, world_size=info.world_size, stats=data,
            processes_on_node=processes_sharing_cores(info.local_world_size),
        )  # fmt: skip
    return loaders


def evaluate_config(
    config: RunConfig,
    registry: Registry,
    *,
    model: torch.nn.Module | None = None,
    weights: str | Checkpoint | None = None,
) -> dict[str, float]:
    """`resreg eval`: the figures of each split `config.eval` names, in this process, with its data set
    built as training builds it. `model` is one that brings its weights (a run's model.safetensors, a
    weights file); without it the config's model is built as training builds it and `weights` fills it:
    a checkpoint (its model weights), or a weights source (a file, hf-hub:...). Images are normalised as the
    recipe says, or without a recipe as the model's record says (resreg.artifact)."""
    data = build_data(config, registry)
    if model is None:
        model = build_model(config, data, registry)
        if isinstance(weights, Checkpoint):
            restore_weights(model, weights, "model")
        elif weights is not None:
            load_pretrained(model, weights)
    classes = getattr(model, "num_classes", None)
    if classes is not None and classes != data.num_classes:  # a weights file on another data set
        raise DataError(
            f"the model has {classes} classes and data set {data.name!r} has {data.num_classes}: "
            "evaluate it on a data set with its classes (data=...)"
        )
    info = Dist(0, 1, 0, pick_device(config.engine.device))
    model.to(info.device)
    augment = config.recipe.augment if config.recipe is not None else _augment_recorded_by(model)
    precision = Precision(config.engine.precision, info.device)
    figures: dict[str, float] = {}
    for split, loader in make_eval_loaders(data, augment, config.eval, info).items():
        with torch.inference_mode():
            result = evaluate(model, loader.batches(0), info, config.eval, autocast=precision.autocast())
        figures |= {f"{split}_{k}": v for k, v in result.items()}
    return figures


def _augment_recorded_by(model: torch.nn.Module) -> AugmentOptions:
    """No recipe: normalise as the model was trained, if its weights say (resreg.artifact), else per channel."""
    record = Preprocessing.of_model(model)
    return AugmentOptions(normalize="pixel" if record is not None and record.mean_image is not None else "channel")


def views(images: torch.Tensor, options: EvalOptions) -> list[torch.Tensor]:
    """The test-time views of a batch [B, C, H, W]: the batch itself unless 10-crop or scales are set."""
    height, width = images.shape[-2:]
    scaled = [images]
    if options.scales:
        scaled = [_resize_shorter(images, s) for s in options.scales]
    if not options.ten_crop:
        return scaled
    out: list[torch.Tensor] = []
    for batch in scaled:
        h, w = batch.shape[-2:]
        crop = (min(height, h), min(width, w))
        out += list(ten_crop(_resize_shorter(batch, round(min(h, w) * 8 / 7)), list(crop)))
    return out


def _resize_shorter(images: torch.Tensor, size: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    if min(h, w) == size:
        return images
    scale = size / min(h, w)
    return F.interpolate(images, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True)


def _outputs(model: torch.nn.Module, view: torch.Tensor) -> list[torch.Tensor]:
    """[combined] for a plain model; [combined, member 0, member 1, ...] for an ensemble (one forward each)."""
    members = getattr(model, "forward_members", None)
    if members is None:
        return [model(view)]
    logits = members(view)
    return [model.combine(logits), *logits]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    info: Dist,
    options: EvalOptions,
    *,
    autocast: contextlib.AbstractContextManager[Any] | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Mean loss, top-1 and top-5 error over every image of `batches`, summed over processes.

    Views (10-crop, scales) are combined by averaging softmax scores. For an ensemble (a model with
    `forward_members`), every member is scored from the same pass too: `member<i>_error`, ...
    """
    was_training = model.training
    model.eval()
    # One row per scored output (the model, then each ensemble member): loss sum, top-1 wrong, top-5 wrong, n.
    rows = 1 + len(model.members) if hasattr(model, "forward_members") else 1
    totals = torch.zeros(rows, 4, dtype=torch.float64, device=info.device)
    for images, labels in batches:
        probs: list[torch.Tensor] | None = None
        batch_views = views(images, options)
        for view in batch_views:
            if channels_last:
                view = view.contiguous(memory_format=torch.channels_last)
            with autocast or contextlib.nullcontext():
                outputs = _outputs(model, view)
            p = [o.float().softmax(dim=1) for o in outputs]
            probs = p if probs is None else [a + b for a, b in zip(probs, p, strict=True)]
        for row, output_probs in enumerate(probs):
            output_probs = output_probs / len(batch_views)
            totals[row, 0] += F.nll_loss(output_probs.clamp_min(1e-12).log(), labels, reduction="sum").double()
            top = output_probs.topk(min(5, output_probs.shape[1]), dim=1).indices
            totals[row, 1] += (top[:, 0] != labels).sum()
            totals[row, 2] += (top != labels[:, None]).all(dim=1).sum()
            totals[row, 3] += labels.numel()
    model.train(was_training)
    figures: dict[str, float] = {}
    for row, (loss, top1, top5, n) in enumerate(all_sum(info, totals).tolist()):
        n = max(n, 1.0)
        prefix = "" if row == 0 else f"member{row - 1}_"
        figures |= {f"{prefix}loss": loss / n, f"{prefix}error": top1 / n, f"{prefix}top5_error": top5 / n}
    return figures
