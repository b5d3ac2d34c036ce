"""Mixed precision and memory format: what `auto` picks on this machine, and fp16's gradient scaler.

`engine.precision: auto` (the default) is bf16 only where the hardware runs it natively: a CUDA device
that supports bf16, or a CPU with AMX tiles or AVX512-BF16. Elsewhere bf16 autocast is emulated and
slower than fp32 (about 11x on an AVX2-only EPYC, measured on ResNet-20), so auto picks fp32 there.
`engine.channels_last: auto` is NHWC on CUDA (tensor cores want it under autocast) and on x86 CPUs with
AVX2 or AVX-512, whose oneDNN kernels run it faster: the quickstart in fp32 with oneDNN held to AVX2
took 72 s in NHWC against 93 s in NCHW (AMD EPYC, 2 cores). Elsewhere (e.g. ARM) NCHW.
`engine.compile: auto` compiles on CUDA only, and only runs long enough to repay the cold compile
(see `resolve_compile`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch

from resreg.errors import ConfigError
from resreg.machine import usable_cores

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Choice:
    """A setting as resolved for this run, and why (printed once by `resreg train`)."""

    value: Any
    reason: str


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AMX tiles or AVX512-BF16), so autocast pays."""
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def resolve_precision(name: str, device: torch.device) -> Choice:
    """`auto` -> bf16 where the device runs it natively, fp32 elsewhere; explicit names pass through."""
    if name != "auto":
        return Choice(name, "set in the config")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Choice("bf16", f"auto: {torch.cuda.get_device_name(device)} supports bf16")
        return Choice("fp16", f"auto: {torch.cuda.get_device_name(device)} has no bf16; fp16 with a grad scaler")
    if device.type == "cpu":
        if torch.cpu._is_amx_tile_supported():
            return Choice("bf16", "auto: the CPU has AMX tiles (native bf16)")
        if torch.cpu._is_avx512_bf16_supported():
            return Choice("bf16", "auto: the CPU has AVX512-BF16 (native bf16)")
        return Choice("fp32", "auto: the CPU has no bf16 units (no AMX, no AVX512-BF16): bf16 would be emulated, slow")
    return Choice("fp32", f"auto: fp32 on {device.type}")


def resolve_channels_last(value: bool | str, device: torch.device) -> Choice:
    """`auto` -> NHWC on CUDA and on x86 CPUs with AVX2 or AVX-512 kernels; contiguous NCHW elsewhere."""
    if value != "auto":
        return Choice(bool(value), "set in the config")
    if device.type == "cuda":
        return Choice(True, "auto: NHWC feeds the GPU's tensor cores")
    if device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        if capability.startswith(("AVX2", "AVX512")):
            return Choice(True, f"auto: oneDNN's {capability} kernels run NHWC faster")
        return Choice(False, f"auto: NCHW on a {capability} CPU")
    return Choice(False, f"auto: NCHW on {device.type}")


#: Optimizer steps from which auto compiles. A cold torch.compile of a training step took 41 s for
#: resnet50 and over 2 minutes for densenet121 on an H200 machine; compiled, resnet50's step ran 30%
#: faster (4,716 -> 6,695 img/s at batch 256: 16 ms saved per 54 ms step), and CUDA graphs save a
#: similar few ms per step of a launch-bound small net. 40-120 s / ~15 ms = 3,000-8,000 steps.
COMPILE_MIN_STEPS = 5000
#: Images at most this size per side make a step launch-bound (CIFAR, Fashion-MNIST: many small
#: kernels, each too short to hide its launch), which CUDA graphs remove: mode="reduce-overhead".
LAUNCH_BOUND_MAX_SIDE = 64


def resolve_compile(
    value: bool | str, device: torch.device, total_steps: int, image_size: tuple[int, int], world_size: int = 1
) -> Choice:
    """`auto` -> a torch.compile mode where compiling repays itself, else False (eager).

    Only on CUDA (on the CPU the compile costs more than it saves in any run we measured), only for
    runs of at least COMPILE_MIN_STEPS optimizer steps, and with CUDA graphs (reduce-overhead) where
    the step is launch-bound: small images, one process (CUDA graphs do not capture DDP's collectives
    well). `true` is torch.compile's default mode; a mode name is used as it is.
    """
    if value != "auto":
        mode = "default" if value is True else value
        return Choice(mode or False, "set in the config")
    if device.type != "cuda":
        return Choice(False, f"auto: eager on {device.type}: compile only pays on CUDA")
    if total_steps < COMPILE_MIN_STEPS:
        return Choice(False, f"auto: {total_steps:,} steps are too few to repay a cold compile "
                      f"(~1 min; from {COMPILE_MIN_STEPS:,})")  # fmt: skip
    if max(image_size) <= LAUNCH_BOUND_MAX_SIDE and world_size == 1:
        return Choice("reduce-overhead", f"auto: {total_steps:,} steps of {max(image_size)} px images are "
                      "launch-bound: compiled, with CUDA graphs")  # fmt: skip
    return Choice("default", f"auto: {total_steps:,} steps repay a cold compile (~1 min; from {COMPILE_MIN_STEPS:,})")


def resolve_threads(threads: int, world_size_on_node: int = 1) -> Choice:
    """0 -> the usable cores shared among the processes of this node; explicit counts pass through."""
    if threads:
        return Choice(threads, "set in the config")
    cores = usable_cores()
    # OMP_NUM_THREADS is the standard way to share a machine among processes (pytest-xdist workers, job
    # schedulers); honoured as a cap only: it can lower the thread count, never raise it past the cores.
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and 0 < int(omp) < cores // max(1, world_size_on_node):
        return Choice(int(omp), f"auto: OMP_NUM_THREADS={omp} of {cores} usable core(s)")
    share = max(1, cores // max(1, world_size_on_node))
    why = f"auto: {cores} usable core(s)" + (f" / {world_size_on_node} processes" if world_size_on_node > 1 else "")
    return Choice(share, why)


class Precision:
    """`with precision.autocast():` for the forward pass; `precision.scaler` scales fp16 losses.

    bf16 has fp32's exponent range, so it needs no scaler; fp16 does (a disabled scaler is a no-op
    with the same interface, which keeps the loop free of branches). `name` is the resolved choice
    (never `auto`) and `reason` says why it was chosen.
    """

    def __init__(self, name: str, device: torch.device) -> None:
        choice = resolve_precision(name, device)
        if choice.value == "fp16" and device.type == "cpu":
            raise ConfigError("engine.precision: fp16 autocast is for GPUs; use bf16 on the CPU (or fp32, or auto)")
        self.name: str = choice.value
        self.reason: str = choice.reason
        self.dtype = DTYPES.get(self.name)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.name == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def resolve_engine_options(
    options: Any, device: torch.device, local_world_size: int = 1
) -> tuple[Any, dict[str, Choice]]:
    """The engine options with every `auto` (precision, channels_last, threads) resolved for `device`.

    Returns the resolved options and, per setting, the Choice made (value and reason) so the run can
    say once what it picked and why.
    """
    import dataclasses

    choices = {
        "precision": resolve_precision(options.precision, device),
        "channels_last": resolve_channels_last(options.channels_last, device),
        "threads": resolve_threads(options.threads, local_world_size),
    }
    resolved = dataclasses.replace(options, **{name: choice.value for name, choice in choices.items()})
    return resolved, choices


def describe_choices(choices: dict[str, Choice]) -> str:
    """One line: `precision bf16 (auto: ...); channels_last True (...); threads 2 (...)`."""
    return "; ".join(f"{name} {choice.value} ({choice.reason})" for name, choice in choices.items())
