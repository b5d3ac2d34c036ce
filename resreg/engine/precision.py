"""Mixed precision: autocast to bf16 or fp16 around the forward pass, and fp16's gradient scaler."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from resreg.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """`with precision.autocast():` for the forward pass; `precision.scaler` scales fp16 losses.

    bf16 has fp32's exponent range, so it needs no scaler; fp16 does (a disabled scaler is a no-op
    with the same interface, which keeps the loop free of branches).
    """

    def __init__(self, name: str, device: torch.device) -> None:
        if name == "fp16" and device.type == "cpu":
            raise ConfigError("engine.precision: fp16 autocast is for GPUs; use bf16 on the CPU (or fp32)")
        self.dtype = DTYPES.get(name)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)
