"""The `engine:` and `eval:` sections of a config: how to run, as opposed to what to train (the recipe).

Frozen, as the RunConfig that holds them (resreg.config.run_config): resolving `auto` makes a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """Options of the training loop.

    Args:
        device: where to train: auto picks cuda, then mps, then cpu.
        precision: auto (bf16 where the device computes it natively: a CUDA GPU with bf16, a CPU with AMX
            or AVX512-BF16; fp32 elsewhere), fp32, or autocast in bf16 or fp16 (GPUs, with a grad scaler).
        channels_last: the NHWC memory format: auto (on CUDA and AVX2/AVX-512 CPUs, where it is faster), true or false.
        compile: torch.compile the training step: auto (on CUDA, for runs long enough to repay the cold
            compile; with CUDA graphs where small images make the step launch-bound), true or false, or a
            torch.compile mode (default, reduce-overhead, max-autotune).
        seed: seed of every random generator.
        deterministic: deterministic algorithms only; on the CPU a resumed run is bitwise equal.
        threads: CPU threads of torch (0 = the cores this process may use, shared among its node's processes).
        sync_bn: synchronise BatchNorm statistics across processes (DDP on GPUs only).
        ema: decay of an exponential moving average of the weights, evaluated instead of them (0 = off).
        grad_clip: clip the global gradient norm to this value (0 = off).
        log_every: optimizer steps per metrics line (train loss and error are averaged over them).
        checkpoint_every: optimizer steps between checkpoints (0 = only at evaluations and the end).
        progress: a tqdm bar on a terminal and plain lines otherwise (auto), or force one of them.
        tensorboard: also write TensorBoard event files to RUN_DIR/tb (needs the tensorboard package).
    """

    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool | Literal["auto", "default", "reduce-overhead", "max-autotune"] = "auto"
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


@dataclass(frozen=True, kw_only=True)
class EvalOptions:
    """Options of evaluation.

    Args:
        batch_size: images per evaluation batch (global, split across processes).
        splits: which splits to evaluate (val, test); each must be one the data set has. null: every split it has.
        ten_crop: average the logits of 10 crops (corners, centre and their flips) of the image
            resized to crop_size * 8/7 (the ResNet paper's 10-crop testing).
        scales: shorter sides to evaluate the whole image at, fully convolutionally, averaging the
            softmax scores (multi-scale testing, e.g. [224, 256, 384, 480, 640]); empty = native size.
    """

    batch_size: int = 256
    splits: list[str] | None = None
    ten_crop: bool = False
    scales: list[int] = field(default_factory=list)
