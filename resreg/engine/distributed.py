"""Processes and devices: one process, or DDP when launched by torchrun.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/PORT); the process group uses nccl
on CUDA and gloo on the CPU. Several machines: run on each
`torchrun --nnodes=M --node-rank=I --nproc-per-node=N --rdzv-endpoint=HOST:PORT -m resreg train CONFIG`
with a run directory on a file system they share (rank 0 writes, every rank reads the checkpoint
when resuming).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from resreg.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank, world size and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` -> cuda (this process's GPU), then mps, then cpu; otherwise the named device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup(device_name: str) -> Dist:
    """Join the process group when launched by torchrun; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return Dist(rank, world_size, local_rank, device)


def teardown(info: Dist) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(info: Dist, values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over processes (the identity with one process)."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values)
    return values


def all_max(info: Dist, values: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum of a tensor over processes."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return values


def broadcast_object(info: Dist, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (e.g. the run directory rank 0 chose)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: torch.nn.Module, info: Dist, *, sync_bn: bool) -> torch.nn.Module:
    """DistributedDataParallel around the model when there are several processes."""
    if not info.enabled:
        return model
    if sync_bn:
        if info.device.type != "cuda":
            raise ConfigError(f"engine.sync_bn: SyncBatchNorm runs on GPUs only, not {info.device.type}; set false")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
