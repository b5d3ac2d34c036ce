"""Processes and devices: one process, or DDP when launched by torchrun or by SLURM's srun.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR/PORT); srun sets SLURM_PROCID,
SLURM_NTASKS and SLURM_LOCALID instead, from which `world_from_env` derives the same (the master
is the first host of the step's node list unless MASTER_ADDR says otherwise). The process group
uses nccl on CUDA and gloo on the CPU. Several machines: a run directory on a file system they
share (rank 0 writes, every rank reads the checkpoint when resuming).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
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
    local_world_size: int = 1  # processes on this machine (they share its cores)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` -> cuda (this process's GPU), then mps, then cpu; otherwise the named device.

    A process's GPU is its local rank among the GPUs it sees: all of the node's under torchrun, or
    only its own where srun's --gpus-per-task narrowed CUDA_VISIBLE_DEVICES (then it is cuda:0).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"engine.device={name}: not a device; valid: auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda":
        # Caught here, before any data is loaded: CUDA itself would fail later with "Found no NVIDIA driver".
        if not torch.cuda.is_available():
            raise ConfigError(f"engine.device={name}: {_why_no_cuda()}; use engine.device=auto or cpu")
        if device.index is None:
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if device.index >= torch.cuda.device_count():
            last = torch.cuda.device_count() - 1
            raise ConfigError(f"engine.device={name}: no such GPU here; valid: cuda, cuda:0 to cuda:{last}, cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"engine.device={name}: no Apple GPU (MPS) here; use engine.device=auto or cpu")
    return device


def _why_no_cuda() -> str:
    if torch.version.cuda is None:
        return f"this PyTorch ({torch.__version__}) is built without CUDA"
    return "no CUDA GPU is visible (no NVIDIA driver, no GPU, or CUDA_VISIBLE_DEVICES hides them)"


@dataclass(frozen=True)
class World:
    """How this process was launched: its place among the processes and where they meet."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    init_method: str = "env://"  # torchrun's MASTER_ADDR/MASTER_PORT, or tcp://HOST:PORT under srun
    launcher: str = "none"  # none, torchrun or slurm


def world_from_env(env: Mapping[str, str]) -> World:
    """torchrun's variables if set, else srun's (a task of `srun resreg train`), else one process."""
    if "RANK" in env and "WORLD_SIZE" in env:
        local = (int(env.get("LOCAL_RANK", "0")), int(env.get("LOCAL_WORLD_SIZE", "1")))
        return World(int(env["RANK"]), int(env["WORLD_SIZE"]), *local, launcher="torchrun")
    tasks = int(env.get("SLURM_NTASKS", "1") or 1)
    if "SLURM_PROCID" not in env or tasks < 2:
        return World()
    host = env.get("MASTER_ADDR") or _slurm_master_host(env)
    # Jobs sharing a node must not meet on one port: derive it from the job id unless MASTER_PORT is set.
    port = env.get("MASTER_PORT") or str(15000 + int(env.get("SLURM_JOB_ID", "14500") or 14500) % 20000)
    # SLURM_STEP_TASKS_PER_NODE reads like 4(x2): 4 tasks on each of 2 nodes.
    per_node = re.match(r"\d+", env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_NTASKS_PER_NODE") or "1")
    local = (int(env.get("SLURM_LOCALID", "0")), int(per_node.group()) if per_node else 1)
    return World(int(env["SLURM_PROCID"]), tasks, *local, f"tcp://{host}:{port}", "slurm")


def _slurm_master_host(env: Mapping[str, str]) -> str:
    """Where task 0 runs: the first node of the step (block distribution), else the node srun ran on."""
    for name in ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"):
        if env.get(name):
            return first_host(env[name])
    return env.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1")


def processes_sharing_cores(local_world_size: int, env: Mapping[str, str] = os.environ) -> int:
    """How many processes share this one's cores: torchrun's workers share their node's, while srun
    binds each task to SLURM_CPUS_PER_TASK cores of its own (then 1)."""
    per_task = int(env.get("SLURM_CPUS_PER_TASK", "0") or 0)
    if per_task and hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) <= per_task:
        return 1
    return local_world_size


def first_host(nodelist: str) -> str:
    """The first host of a SLURM host list: `gpu[003-008,012],cpu1` -> `gpu003` (as `scontrol show hostnames`)."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        raise ConfigError(f"SLURM_JOB_NODELIST={nodelist!r}: not a host list; set MASTER_ADDR to task 0's host")
    prefix, ranges = match.groups()
    return prefix + ranges.split(",")[0].split("-")[0] if ranges else prefix


def setup(device_name: str, env: Mapping[str, str] = os.environ) -> Dist:
    """Join the process group when launched by torchrun or srun; pick this process's device."""
    world = world_from_env(env)
    device = pick_device(device_name, world.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        attempt = env.get("TORCHELASTIC_RESTART_COUNT")
        if world.launcher == "torchrun" and attempt is not None:
            # torchrun's agent keeps one store across restarts: without a prefix of their own, restarted
            # workers could read the dead workers' addresses from it (gloo: "connection refused").
            store, _, _ = next(dist.rendezvous("env://", rank=world.rank, world_size=world.world_size))
            store = dist.PrefixStore(f"resreg/attempt_{attempt}", store)
            dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.world_size)
        else:
            rank, size = world.rank, world.world_size
            dist.init_process_group(backend, init_method=world.init_method, rank=rank, world_size=size)
    return Dist(world.rank, world.world_size, world.local_rank, device, world.local_world_size)


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
