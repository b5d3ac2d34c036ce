"""Peak training memory of a DenseNet with and without memory_efficient (recomputed concatenations).

    python benchmarks/densenet_memory.py                          # densenet121, batch 32, 112 px on CPU
    python benchmarks/densenet_memory.py --size 224 --device cuda
    python benchmarks/densenet_memory.py --smoke                  # seconds: batch 2 at 32 px, proves it runs

Each mode runs in a fresh subprocess, so neither inherits the other's allocator state. The figures are
peaks of training steps (forward, backward, SGD with momentum) above what the process held before them
(model, optimiser, batch):
  allocated  tensor memory, as torch.cuda.max_memory_allocated on CUDA; on the CPU the same quantity is
             summed from the allocation events of torch.profiler (profile_memory=True) over one more step;
  resident   on the CPU, the peak resident set size (ru_maxrss) minus the resident size before the first
             (warm-up) step: what the operating system sees, momentum buffers, allocator slack and oneDNN
             workspaces included.
Goal (on allocated memory, as a GPU sees it): memory-efficient mode needs at least 40% less.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from harness import describe_machine, set_threads

MIB = 2**20


def resident_bytes() -> int:
    """Current resident set size of this process (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_allocated_by_events(prof) -> int:
    """Peak of the running sum of the CPU allocations (+) and frees (-) that torch.profiler recorded.

    The "[memory]" events are read from the profiler's raw results: its public event list keeps only those
    not attributed to an operator. The sum starts at 0 when profiling starts, so the peak is above that.
    """
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()
    )
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return peak


def measure(args: argparse.Namespace) -> dict[str, float]:
    """One mode in this process: peak bytes above the pre-training baseline, and seconds per step."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    import resreg

    set_threads(args.threads, smoke=args.smoke)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = resreg.create_model(args.model, memory_efficient=args.memory_efficient).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    y = torch.randint(0, model.num_classes, (args.batch,), device=device)

    def train(steps: int) -> float:
        """Seconds per step of `steps` training steps."""
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        return (time.perf_counter() - start) / steps

    if device.type == "cuda":
        train(1)  # warm-up: cuDNN plans, momentum buffers
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        seconds = train(args.steps)
        torch.cuda.synchronize()
        return {"allocated_mib": (torch.cuda.max_memory_allocated() - baseline) / MIB, "s_per_step": seconds}
    baseline = resident_bytes()
    train(1)  # warm-up: oneDNN primitives, momentum buffers
    seconds = train(args.steps)
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline  # ru_maxrss is in KiB
    optimizer.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:  # after: its events take memory
        train(1)
    return {
        "allocated_mib": peak_allocated_by_events(prof) / MIB,
        "resident_mib": resident / MIB,
        "s_per_step": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="densenet121")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=112, help="image side in pixels (224 on a GPU)")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps, after one warm-up step")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores; 1 with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="batch 2 at 32 px, one step: checks that it runs")
    parser.add_argument("--memory-efficient", action="store_true", help=argparse.SUPPRESS)  # child run
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.size, args.steps = 2, 32, 1
    if args.child:
        print(json.dumps(measure(args)))
        return

    results = {}
    for memory_efficient in (False, True):
        command = [sys.executable, __file__, "--child", *sys.argv[1:]]
        if memory_efficient:
            command.append("--memory-efficient")
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[memory_efficient] = json.loads(out.strip().splitlines()[-1])
    set_threads(args.threads, smoke=args.smoke)  # as in the children: for the machine line
    print(describe_machine())
    print(f"{args.model}, batch {args.batch}, {args.size}x{args.size}, {args.device}, {args.steps} training steps")
    normal, efficient = results[False], results[True]
    for key in [k for k in normal if k.endswith("_mib")]:
        saving = 1 - efficient[key] / normal[key]
        print(
            f"  peak {key[:-4]:<9} normal {normal[key]:8.1f} MiB   memory_efficient {efficient[key]:8.1f} MiB"
            f"   saving {saving:4.0%}" + ("  (goal >= 40%)" if key == "allocated_mib" else "")
        )
    plain, checkpointed = normal["s_per_step"], efficient["s_per_step"]
    print(
        f"  time/step      normal {plain:8.2f} s     memory_efficient {checkpointed:8.2f} s"
        f"     x{checkpointed / plain:.2f}"
    )


if __name__ == "__main__":
    main()
