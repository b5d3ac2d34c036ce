"""Peak memory of one training step with and without `set_grad_checkpointing()`, on deep presets.

    python benchmarks/grad_checkpointing_memory.py            # the deepest presets, ImageNet/CIFAR sizes
    python benchmarks/grad_checkpointing_memory.py --smoke    # small and quick: the CPU is shared

On a GPU the figure is `torch.cuda.max_memory_allocated` over the step; on a CPU it is the peak of the
bytes the allocator holds over the step, from the profiler's memory events (allocations minus frees in
time order), the CPU's counterpart. Parameters and their gradients are in both figures; activations are
what checkpointing saves. The same model weights and input are used for both runs.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

import resreg

# (preset, batch, image size): the deepest of each family; smoke mode shrinks them
FULL = [("resnet152", 16, 224), ("resnet1202", 32, 32), ("preact_resnet1001", 16, 32), ("densenet264", 8, 224)]
SMOKE = [("resnet110", 8, 32), ("preact_resnet164", 8, 32), ("densenet121", 2, 64)]


def training_step(model: torch.nn.Module, x: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(x).logsumexp(1).mean().backward()


def peak_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Peak bytes allocated during one training step (above what was allocated before it)."""
    if x.is_cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        training_step(model, x)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        training_step(model, x)
    # Every allocation (+bytes) and free (-bytes) the CPU allocator saw, in time order.
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def measure(name: str, batch: int, size: int, device: torch.device) -> tuple[int, int, float, float]:
    torch.manual_seed(0)
    model = resreg.create_model(name).to(device).train()
    x = torch.randn(batch, 3, size, size, device=device)
    training_step(model, x)  # warm-up: allocator caches, lazy inits
    results = []
    for enable in (False, True):
        model.set_grad_checkpointing(enable)
        start = time.perf_counter()
        training_step(model, x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        results.append((peak_bytes(model, x), seconds))
    (plain, t_plain), (ckpt, t_ckpt) = results
    return plain, ckpt, t_plain, t_ckpt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--smoke", action="store_true", help="small presets and inputs (a shared CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"peak memory of one training step, {name}, torch {torch.__version__}")
    print(f"{'preset':<20} {'batch':>5} {'size':>4}  {'plain MiB':>10} {'ckpt MiB':>9} {'saved':>6}  {'time x':>6}")
    for preset, batch, size in SMOKE if args.smoke else FULL:
        plain, ckpt, t_plain, t_ckpt = measure(preset, batch, size, device)
        print(
            f"{preset:<20} {batch:>5} {size:>4}  {plain / 2**20:>10.1f} {ckpt / 2**20:>9.1f} "
            f"{1 - ckpt / plain:>6.0%}  {t_ckpt / t_plain:>6.2f}"
        )


if __name__ == "__main__":
    main()
