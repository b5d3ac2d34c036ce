"""The paper's plain block. The basic and bottleneck blocks are resreg's public ones (`resreg.blocks`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from resreg.blocks import BasicBlock


class PlainBlock(BasicBlock):
    """A basic block without its shortcut, whatever the shortcut option: the paper's plain nets."""

    def __init__(
        self, in_chs: int, planes: int, stride: int = 1, shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(in_chs, planes, stride, False, drop_path_rate, **kwargs)
