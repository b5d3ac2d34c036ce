"""The `engine:` and `eval:` sections of a config: how to run, as opposed to what to train (the recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
        threads: CPU threads of torch (0 keeps torch's choice).
        sync_bn: synchronise BatchNorm statistics across processes (DDP on GPUs only).
        ema: decay of an exponential moving average of the weights, evaluated instead of them (0 = off).
        grad_clip: clip the global gradient norm to this value (0 = off).
        log_every: optimizer steps per metrics line (train loss and error are averaged over them).
        checkpoint_every: optimizer steps between checkpoints (0 = only at evaluations and the end).
        progress: a tqdm bar on a terminal and plain lines otherwise (auto), or force one of them.
        tensorboard: also write TensorBoard event files to RUN_DIR/tb (needs the tensorboard package).
    """

    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    deterministic: bool = False
    threads: int = 0
    sync_bn: bool = False
    ema: float = 0.0
    grad_clip: float = 0.0
    log_every: int = 50
    checkpoint_every: int = 1000
    progress: Literal["auto", "bar", "lines", "none"] = "auto"
    tensorboard: bool = False


@dataclass(kw_only=True)
class EvalOptions:
    """Options of evaluation.

    Args:
        batch_size: images per evaluation batch (global, split across processes).
        splits: which splits to evaluate, among those the data set has.
        ten_crop: average the logits of 10 crops (corners, centre and their flips) of the image
            resized to crop_size * 8/7 (the ResNet paper's 10-crop testing).
        scales: shorter sides to evaluate the whole image at, fully convolutionally, averaging the
            softmax scores (multi-scale testing, e.g. [224, 256, 384, 480, 640]); empty = native size.
    """

    batch_size: int = 256
    splits: list[str] = field(default_factory=lambda: ["val", "test"])
    ten_crop: bool = False
    scales: list[int] = field(default_factory=list)
