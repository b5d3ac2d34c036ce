"""What a run says about itself: a banner before the first step, a line after the last, and out of
memory in one line with what to try.

The banner answers what a user checks first (where it writes, on what, how precisely, how big the
model is, how long it will take); the final line says where the results are.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import torch

from resreg.errors import ResregError


class OutOfMemory(ResregError):
    """The device (or the host) could not allocate what a step needed."""


def count_macs(model: torch.nn.Module, in_chans: int, image_size: tuple[int, int], device: torch.device) -> int:
    """Multiply-accumulates of one forward pass of one image (torch.utils.flop_counter, eval mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, in_chans, *image_size, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def banner(
    *,
    run_dir: Path,
    device: torch.device,
    world_size: int,
    choices: dict[str, Any],
    model_name: str,
    parameters: int,
    macs: int,
    data: Any,
    batch_size: int,
    step: int,
    total_steps: int,
    steps_per_epoch: int,
    eval_every: int,
    checkpoint_every: int,
) -> str:
    """The lines `resreg train` prints before its first step (rank 0)."""
    processes = f" x {world_size} processes" if world_size > 1 else ""
    if device.type == "cuda":
        processes = f" ({torch.cuda.get_device_name(device)}){processes}"
    settings = [f"  {name:<14} {choice.value} ({choice.reason})" for name, choice in choices.items()]
    sizes = ", ".join(f"{len(split):,} {name}" for name, split in _splits(data))
    size = "x".join(str(side) for side in data.image_size)
    start = f", resuming at step {step:,}" if step else ""
    checkpoints = f"every {checkpoint_every:,} steps" if checkpoint_every else "at evaluations"
    epochs = total_steps / steps_per_epoch
    return "\n".join(
        [
            f"resreg train: run dir {run_dir}",
            f"  {'device':<14} {device}{processes}",
            *settings,
            f"  {'model':<14} {model_name}: {_count(parameters)} parameters, "
            f"{_count(macs)} MACs per {data.in_chans}x{size} image",
            f"  {'data':<14} {data.name}: {sizes} images, {data.num_classes} classes, batch {batch_size}",
            f"  {'steps':<14} {total_steps:,} ({epochs:.4g} epoch{'s' if epochs != 1 else ''} of {steps_per_epoch:,})"
            f"{start}; evaluation every {eval_every:,}, checkpoint {checkpoints}",
        ]
    )


def final_line(run_dir: Path, step: int, metrics: dict[str, float], weights: Path, seconds: float) -> str:
    """`finished at step N in H:MM:SS: test error 7.95%, ...; model ...; checkpoints ...`."""
    shown = [
        f"{split} error {100 * metrics[f'{split}_error']:.2f}% (loss {metrics[f'{split}_loss']:.4f})"
        for split in ("val", "test")
        if f"{split}_error" in metrics and f"{split}_loss" in metrics
    ]
    figures = ", ".join(shown) or f"train loss {metrics.get('train_loss', math.nan):.4f} (no evaluation)"
    return (
        f"resreg train: finished at step {step:,} in {_clock(seconds)}: {figures}; "
        f"model {weights}; checkpoints {run_dir / 'checkpoints'}"
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or an allocator's RuntimeError (CPU, MPS)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def out_of_memory(
    exc: BaseException, *, device: torch.device, key: str, batch_size: int, world_size: int
) -> OutOfMemory:
    """The one-line error for an allocation failure: where, at which batch size, and a smaller one to try."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = re.sub(r"^\[enforce fail at [^\]]*\] err == 0\. ", "", first)[:200]
    smaller = (batch_size // 2) // world_size * world_size
    hint = f"try {key}={smaller}" if smaller >= 1 else "try a smaller model or image size"
    return OutOfMemory(f"out of memory on {device} at {key}={batch_size} ({first}); {hint}")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _splits(data: Any) -> list[tuple[str, Any]]:
    return [(name, split) for name in ("train", "val", "test") if (split := getattr(data, name)) is not None]


def _count(n: int) -> str:
    """3,904 / 0.27 M / 25.6 M / 4.1 G: exact when small, three figures when large."""
    for unit, size in (("G", 1e9), ("M", 1e6)):
        if n >= size / 10:
            return f"{n / size:.3g} {unit}"
    return f"{n:,}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
