"""A model's eval transform: PIL image of any size and mode -> the normalised tensor the model was evaluated on.

    transform = create_eval_transform(model)      # from model.pretrained_cfg (see resreg.artifact)
    x = transform(PIL.Image.open("shoe.png"))     # [C, H, W] float32

timm's `resolve_data_config` + `create_transform` are the anchor: the image is resized so its shorter
side is H / crop_pct, centre-cropped to H x W, scaled to 0..1 and normalised by the channel mean and
std. Two steps are added around timm's: the image is first converted to the model's channel count
(grey for a 1-channel model, RGB for 3), and a model trained with per-pixel mean subtraction (the
CIFAR ResNet recipe) subtracts its mean image instead of the channel mean.
"""

from __future__ import annotations

from typing import Any

from resreg.errors import ConfigError

#: PIL mode for each channel count a model can be fed
_MODES = {1: "L", 3: "RGB"}


def resolve_data_config(model: Any) -> dict[str, Any]:
    """timm's data config (input_size, interpolation, mean, std, crop_pct, crop_mode) of `model`.

    Read from `model.pretrained_cfg` (timm's `resolve_data_config(model=...)` does the same), so it
    works for timm models too.
    """
    from timm.data import resolve_data_config as timm_resolve

    cfg = getattr(model, "pretrained_cfg", None)
    if not cfg or "input_size" not in cfg:
        raise ConfigError("the model has no pretrained_cfg with an input_size: build it with resreg.create_model")
    return timm_resolve(pretrained_cfg=dict(cfg))


def create_eval_transform(model: Any) -> Any:
    """The transform that prepares one PIL image for `model` exactly as its evaluation did (a torchvision Compose)."""
    from timm.data import create_transform
    from torchvision import transforms

    config = resolve_data_config(model)
    channels = config["input_size"][0]
    if channels not in _MODES:
        raise ConfigError(f"images can be prepared for 1- or 3-channel models; this one takes {channels} channels")
    steps = [ToMode(_MODES[channels]), *create_transform(**config, is_training=False).transforms]
    mean_image = getattr(model, "resreg_mean_image", None)
    if mean_image is not None:
        steps = [s for s in steps if not isinstance(s, transforms.Normalize)]
        steps.append(SubtractMeanImage(mean_image, config["std"]))
    return transforms.Compose(steps)


class ToMode:
    """Convert a PIL image to a mode (`L` grey, `RGB`): grey photos for an RGB model and the reverse."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image: Any) -> Any:
        return image if image.mode == self.mode else image.convert(self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r})"


class SubtractMeanImage:
    """(x - mean_image) / std, the per-pixel normalisation of the ResNet CIFAR recipe ([C, H, W] tensors)."""

    def __init__(self, mean_image: Any, std: tuple[float, ...]) -> None:
        import torch

        self.mean_image = mean_image.detach().cpu().float()
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, x: Any) -> Any:
        return (x - self.mean_image) / self.std

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean_image={tuple(self.mean_image.shape)}, std={self.std.flatten().tolist()})"
