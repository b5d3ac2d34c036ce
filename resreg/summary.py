"""A model's layout at a glance: output shape, parameters and MACs of each top-level part.

MACs (multiply-adds, what the papers call FLOPs) come from `torch.utils.flop_counter`, which counts
2 FLOPs per multiply-add of convolutions and matmuls; element-wise ops (BN, ReLU, adds) are not
counted, as in the papers and torchvision's tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Row:
    name: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class Summary:
    rows: list[Row]
    input_size: tuple[int, ...]
    params: int
    macs: int

    def table(self) -> str:
        lines = [f"{'part':<16} {'output':>20} {'params':>14} {'MACs':>16}"]
        for row in self.rows:
            shape = "x".join(str(s) for s in row.output_shape)
            lines.append(f"{row.name:<16} {shape:>20} {row.params:>14,} {row.macs:>16,}")
        size = "x".join(str(s) for s in self.input_size)
        lines.append(f"{'total':<16} {'input ' + size:>20} {self.params:>14,} {self.macs:>16,}")
        lines.append(f"{'':<16} {'':>20} {self.params / 1e6:>13.3f}M {self.macs / 1e9:>15.3f}G")
        return "\n".join(lines)


def _parts(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children; a container that holds the stages (DenseNet's `features`) is opened up."""
    feature_modules = [info["module"] for info in getattr(model, "feature_info", []) or []]
    parts = []
    for name, child in model.named_children():
        if any(m.startswith(name + ".") for m in feature_modules):
            parts.extend((f"{name}.{sub}", module) for sub, module in child.named_children())
        else:
            parts.append((name, child))
    return parts


def summarize(model: nn.Module, input_size: tuple[int, ...]) -> Summary:
    """Run one image of `input_size` (C, H, W) through `model` in eval mode and measure each part."""
    parts = _parts(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
            if isinstance(out, torch.Tensor) else None
        )
        for name, module in parts
    ]  # fmt: skip
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_size))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    rows = [
        Row(name, shapes.get(name, ()), sum(p.numel() for p in module.parameters()),
            sum(counts.get(f"{root}.{name}", {}).values()) // 2)
        for name, module in parts
        if name in shapes or any(True for _ in module.parameters())
    ]  # fmt: skip
    total_params = sum(p.numel() for p in model.parameters())
    return Summary(rows, tuple(input_size), total_params, counter.get_total_flops() // 2)
