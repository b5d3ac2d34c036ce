"""The smallest run the engine's in-process tests train: a 16-pixel ResNet on 256 synthetic images, 12 steps of
batch 32 (8 per epoch), a log window every 3 steps and an evaluation and a checkpoint every 6."""

from __future__ import annotations

from typing import Any

from resreg.config import RunConfig, validate_config
from resreg.plugins import get_registry

TINY = {
    "name": "tiny",
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [4, 8, 8], "shortcut": "B"},
    "data": {"type": "synthetic", "num_images": 256, "image_size": 16, "in_chans": 3, "num_classes": 4},
    "train": {
        "preset": "fast",
        "unit": "step",
        "length": 12,
        "batch_size": 32,
        "eval_every": 6,
        "schedule": {"warmup": 0},
    },
    "engine": {"log_every": 3, "checkpoint_every": 6, "progress": "none"},
}


def tiny_config(**sections: dict[str, Any]) -> RunConfig:
    """TINY with each given section updated key by key (a section replaced whole: pass all its keys)."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()}
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    return validate_config(config, "tiny", get_registry())
