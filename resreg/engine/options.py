"""The `engine:` and `eval:` sections of a config: how to run, as opposed to what to train (the recipe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(kw_only=True)
class EngineOptions:
    """Options of the training loop.

    Args:
        device: where to train: auto picks cuda, then mps, then cpu.
        precision: fp32, or autocast in bf16 (CPU and recent GPUs) or fp16 (with a grad scaler).
        channels_last: use the NHWC memory format (faster convolutions on GPUs and recent CPUs).
        compile: wrap the model in torch.compile (slow to start; faster steps on GPUs).
        seed: seed of every random generator.
        deterministic: deterministic algorithms only; on the CPU a resumed run is bitwise equal.
    """

    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    deterministic: bool = False


@dataclass(kw_only=True)
class EvalOptions:
    """Options of evaluation.

    Args:
        batch_size: images per evaluation batch.
    """

    batch_size: int = 256
