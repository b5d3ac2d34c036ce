"""Gradient checkpointing (torch.utils.checkpoint) that leaves batch-norm running statistics untouched.

A checkpointed module runs its forward a second time during the backward pass. In training mode that
second run would count the batch twice in every BN's running_mean/var and num_batches_tracked (timm and
torchvision do count it twice), so a model trained with checkpointing would evaluate differently from
one trained without; here the recomputation restores the statistics it changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@contextlib.contextmanager
def running_stats_kept(module: nn.Module) -> Iterator[None]:
    """Undo whatever the block does to `module`'s buffers (BN running statistics) inside it."""
    saved = [b.clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), saved, strict=True):
                buffer.copy_(value)


def checkpointed(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, stats_of: nn.Module) -> torch.Tensor:
    """`fn(*inputs)` without keeping its activations: they are recomputed in the backward pass, with the
    running statistics of `stats_of` (the module `fn` runs) restored after the recomputation."""
    return checkpoint(
        fn, *inputs, use_reentrant=False, context_fn=lambda: (contextlib.nullcontext(), running_stats_kept(stats_of))
    )
