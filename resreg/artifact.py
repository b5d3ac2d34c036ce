"""What a saved model carries besides its weights: how to prepare an image for it, and what its classes are.

torchvision attaches `transforms` and `meta["categories"]` to its weights; timm keeps `pretrained_cfg`
and `label_names`. resreg records the same, taken from the data the model was trained on:

    input_size  (C, H, W)        what the network was fed (grey Fashion-MNIST: (1, 28, 28))
    interpolation, crop_pct,     how an image of any size becomes H x W: its shorter side resized to
    crop_mode                    H / crop_pct, then a centre crop (timm's eval transform)
    mean, std                    one number per channel, on the 0..1 scale
    mean_image                   [C, H, W] tensor, when the recipe subtracts the per-pixel mean (CIFAR
                                 ResNets); kept as a tensor in the .safetensors file, not in the header
    label_names                  the name of each class (Fashion-MNIST's kinds of clothing, folder names)

On a model they are `model.pretrained_cfg` (a timm-style dict), `model.label_names` and
`model.resreg_mean_image`. In files: the `.safetensors` header (`resreg_pretrained_cfg`, JSON) plus
the tensor `resreg_preprocess.mean_image`, `resreg.yaml` (`pretrained_cfg:`) and timm's `config.json`.
What comes from a file is untrusted: every value is checked for type and range before it is used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resreg.errors import WeightsError

if TYPE_CHECKING:
    import torch

HEADER_KEY = "resreg_pretrained_cfg"
MEAN_IMAGE_KEY = "resreg_preprocess.mean_image"  # a tensor name no module path can produce ('.'-joined identifiers)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")
CROP_MODES = ("center", "squash", "border")
#: bounds on untrusted values: far beyond any real model, small enough to keep a bad file harmless
MAX_CHANNELS, MAX_SIDE, MAX_CLASSES, MAX_LABEL_CHARS = 64, 16384, 100_000, 1000


@dataclass
class Preprocessing:
    """How images are prepared for a model, and the names of its classes (see the module docstring)."""

    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    crop_mode: str = "center"
    label_names: list[str] | None = None
    mean_image: torch.Tensor | None = None

    # --- making one -------------------------------------------------------------------------------
    @classmethod
    def of_model(cls, model: Any) -> Preprocessing | None:
        """The record a model carries (None when its pretrained_cfg does not say how to prepare images)."""
        cfg = getattr(model, "pretrained_cfg", None) or {}
        if "input_size" not in cfg or "mean" not in cfg or "std" not in cfg:
            return None
        if not len(cfg["mean"]) == len(cfg["std"]) == cfg["input_size"][0]:  # a builder's RGB guess for grey input
            return None
        return cls(
            tuple(cfg["input_size"]),
            tuple(cfg["mean"]),
            tuple(cfg["std"]),
            cfg.get("interpolation", "bilinear"),
            float(cfg.get("crop_pct", 1.0)),
            cfg.get("crop_mode", "center"),
            _labels_of(model),
            getattr(model, "resreg_mean_image", None),
        )

    @classmethod
    def from_json(cls, data: Any, where: str, mean_image: torch.Tensor | None = None) -> Preprocessing:
        """Check an untrusted record (a file header, resreg.yaml, a timm config's pretrained_cfg)."""
        if not isinstance(data, Mapping):
            raise WeightsError(f"{where}: pretrained_cfg is not a mapping")
        size = data.get("input_size")
        if not (_ints(size) and len(size) == 3 and 1 <= size[0] <= MAX_CHANNELS and min(size[1:]) >= 1):
            raise WeightsError(f"{where}: pretrained_cfg.input_size must be [channels, height, width], got {size!r}")
        if max(size[1:]) > MAX_SIDE:
            raise WeightsError(f"{where}: pretrained_cfg.input_size {size} exceeds {MAX_SIDE} pixels")
        channels = size[0]
        mean, std = data.get("mean"), data.get("std")
        for key, values in (("mean", mean), ("std", std)):
            if not (_floats(values) and len(values) == channels):
                raise WeightsError(f"{where}: pretrained_cfg.{key} must be {channels} number(s), got {values!r}")
        if min(std) <= 0:
            raise WeightsError(f"{where}: pretrained_cfg.std must be positive, got {std!r}")
        interpolation = data.get("interpolation", "bilinear")
        if interpolation not in INTERPOLATIONS:
            raise WeightsError(
                f"{where}: pretrained_cfg.interpolation {interpolation!r} is not one of {', '.join(INTERPOLATIONS)}"
            )
        crop_pct = data.get("crop_pct", 1.0)
        if not (_floats([crop_pct]) and 0.05 <= crop_pct <= 1.0):
            raise WeightsError(f"{where}: pretrained_cfg.crop_pct must be a number in [0.05, 1], got {crop_pct!r}")
        crop_mode = data.get("crop_mode", "center")
        if crop_mode not in CROP_MODES:
            raise WeightsError(f"{where}: pretrained_cfg.crop_mode {crop_mode!r} is not one of {CROP_MODES}")
        labels = _check_labels(data.get("label_names"), data.get("num_classes"), where)
        if data.get("normalize", "channel") not in ("channel", "pixel"):
            raise WeightsError(f"{where}: pretrained_cfg.normalize must be 'channel' or 'pixel'")
        if data.get("normalize") == "pixel" and mean_image is None:
            raise WeightsError(
                f"{where}: pretrained_cfg says normalize: pixel, but no {MEAN_IMAGE_KEY!r} tensor came with it"
            )
        if mean_image is not None:
            _check_mean_image(mean_image, tuple(size), where)
        return cls(
            tuple(size), tuple(map(float, mean)), tuple(map(float, std)), interpolation, float(crop_pct), crop_mode,
            labels, mean_image,
        )  # fmt: skip

    # --- writing it -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The record as JSON-able data: timm's pretrained_cfg keys, plus `normalize: pixel` for a mean image."""
        record: dict[str, Any] = {
            "input_size": list(self.input_size),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
            "mean": list(self.mean),
            "std": list(self.std),
        }
        if self.mean_image is not None:
            record["normalize"] = "pixel"  # subtract the mean image (MEAN_IMAGE_KEY in the weights file)
        if self.label_names is not None:
            record["num_classes"] = len(self.label_names)
            record["label_names"] = list(self.label_names)
        return record

    def attach(self, model: Any) -> None:
        """Put the record on `model`: pretrained_cfg (the builder's structural keys kept), label_names, mean image.

        A record made for other channels or classes than the model's (built with in_chans= or
        num_classes= overrides) is not attached in the part that no longer fits: normalisation or names.
        """
        cfg = dict(getattr(model, "pretrained_cfg", None) or {})
        model_chans = (cfg.get("input_size") or self.input_size)[0]
        if model_chans == self.input_size[0]:
            cfg.update(
                input_size=tuple(self.input_size), mean=tuple(self.mean), std=tuple(self.std),
                interpolation=self.interpolation, crop_pct=self.crop_pct, crop_mode=self.crop_mode,
            )  # fmt: skip
            model.resreg_mean_image = self.mean_image
        num_classes = getattr(model, "num_classes", None)
        labels = self.label_names if self.label_names is not None and len(self.label_names) == num_classes else None
        cfg.pop("label_names", None)
        if labels is not None:
            cfg["label_names"] = list(labels)
        model.label_names = list(labels) if labels is not None else None
        model.pretrained_cfg = cfg


# --- the .safetensors file ----------------------------------------------------------------------------
def header_entries(model: Any) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """What `save_model` adds for `model`: header entries, and the mean image tensor when there is one."""
    record = Preprocessing.of_model(model)
    if record is None:
        return {}, {}
    tensors = {}
    if record.mean_image is not None:
        tensors[MEAN_IMAGE_KEY] = record.mean_image.detach().cpu().float().contiguous()
    return {HEADER_KEY: json.dumps(record.to_json())}, tensors


def read_header(metadata: Mapping[str, str], tensors: dict[str, torch.Tensor], where: str) -> Preprocessing | None:
    """The record of a weights file, checked; its mean image tensor is taken OUT of `tensors` (not a weight)."""
    mean_image = tensors.pop(MEAN_IMAGE_KEY, None)
    if HEADER_KEY not in metadata:
        return None
    try:
        data = json.loads(metadata[HEADER_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError(f"{where}: the {HEADER_KEY!r} metadata is not valid JSON ({type(exc).__name__})") from None
    return Preprocessing.from_json(data, where, mean_image)


def from_timm_config(config: Mapping[str, Any], where: str) -> Preprocessing | None:
    """The record in a timm `config.json` (its `pretrained_cfg`, with `label_names` at the top level), if any."""
    cfg = config.get("pretrained_cfg")
    if not isinstance(cfg, Mapping) or "input_size" not in cfg:
        return None
    labels = config.get("label_names", cfg.get("label_names"))
    cfg = {**cfg, "label_names": labels, "num_classes": config.get("num_classes", cfg.get("num_classes"))}
    cfg.setdefault("crop_pct", 0.875)  # timm's default when a config leaves it out
    return Preprocessing.from_json(cfg, f"{where}: pretrained_cfg")


def timm_config(model_spec: dict[str, Any], record: Preprocessing | None, architecture: str) -> dict[str, Any]:
    """A `config.json` in timm's shape for a resreg model: timm-style tools read it, resreg reads resreg.yaml."""
    cfg = record.to_json() if record is not None else {}
    labels = cfg.pop("label_names", None)
    cfg.pop("normalize", None)
    num_classes = len(labels) if labels is not None else model_spec.get("num_classes")
    config: dict[str, Any] = {"architecture": architecture}
    if num_classes is not None:
        config["num_classes"] = num_classes
        cfg["num_classes"] = num_classes
    in_chans = model_spec.get("in_chans")
    if isinstance(in_chans, int) and in_chans != 3:
        config["model_args"] = {"in_chans": in_chans}
    config["pretrained_cfg"] = cfg
    if labels is not None:
        config["label_names"] = labels
    config["resreg"] = {"spec": model_spec}
    return config


# --- checks -------------------------------------------------------------------------------------
def _ints(values: Any) -> bool:
    return isinstance(values, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _floats(values: Any) -> bool:
    return isinstance(values, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _check_labels(labels: Any, num_classes: Any, where: str) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, Mapping):  # timm may write {index: name}
        try:
            labels = (
                [labels[k] for k in sorted(labels, key=int)]
                if sorted(map(int, labels)) == list(range(len(labels)))
                else None
            )
        except (TypeError, ValueError):
            labels = None
    if not (
        isinstance(labels, list)
        and len(labels) <= MAX_CLASSES
        and all(isinstance(n, str) and len(n) <= MAX_LABEL_CHARS for n in labels)
    ):
        raise WeightsError(f"{where}: label_names must be a list of at most {MAX_CLASSES} short strings")
    if num_classes is not None and num_classes != len(labels):
        raise WeightsError(f"{where}: {len(labels)} label_names for num_classes={num_classes!r}")
    return labels


def _check_mean_image(mean_image: Any, size: tuple[int, int, int], where: str) -> None:
    import torch

    if not isinstance(mean_image, torch.Tensor) or not mean_image.is_floating_point():
        raise WeightsError(f"{where}: {MEAN_IMAGE_KEY!r} must be a float tensor")
    if tuple(mean_image.shape) != size:
        raise WeightsError(f"{where}: {MEAN_IMAGE_KEY!r} has shape {tuple(mean_image.shape)}, the input_size is {size}")
    if not torch.isfinite(mean_image).all():
        raise WeightsError(f"{where}: {MEAN_IMAGE_KEY!r} holds values that are not finite")


def _labels_of(model: Any) -> list[str] | None:
    labels = getattr(model, "label_names", None)
    return list(labels) if labels else None
