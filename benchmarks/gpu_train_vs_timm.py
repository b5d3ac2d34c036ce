"""resreg vs timm on one GPU: training images/s of the same architectures, eager and compiled, side by side.

    python benchmarks/gpu_train_vs_timm.py                        # resnet50, densenet121; bf16, channels_last
    python benchmarks/gpu_train_vs_timm.py --modes eager --models resnet50 --steps 20
    python benchmarks/gpu_train_vs_timm.py --smoke                # seconds, on the CPU too (CI keeps it alive)

One training step = bf16 autocast forward, cross-entropy, backward, SGD step, on synthetic images held on
the device (no loader), NHWC. Both models get the same weights. For each model and mode the two
libraries are timed in interleaved rounds (timm resreg, resreg timm, ...: benchmarks/harness.py, as every
benchmark here) so clock and thermal drift hit both; the table gives images/s (median of rounds) and the
ratio resreg/timm. Timing uses CUDA events around `steps` steps after `warmup` steps (torch.compile's
compile happens in the warm-up and is reported apart, in seconds).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import timm
import torch
from harness import describe_machine, interleaved, ratios

import resreg


def train_step_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype | None):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    device_type = x.device.type

    def step() -> None:
        with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def timed(step, steps: int, device: torch.device) -> float:
    """Seconds for `steps` steps (CUDA events on a GPU, perf_counter elsewhere)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    begin = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - begin


def images_per_s(step, args: argparse.Namespace, device: torch.device) -> float:
    return args.batch * args.steps / timed(step, args.steps, device)


def build_pair(name: str, device: torch.device, channels_last: bool) -> dict[str, torch.nn.Module]:
    ours = resreg.create_model(name)
    theirs = timm.create_model(name, pretrained=False)
    ours.load_state_dict(theirs.state_dict())  # same keys (the test suite proves it), same weights
    pair = {"timm": theirs, "resreg": ours}
    for model in pair.values():
        model.to(device).train()
        if channels_last:
            model.to(memory_format=torch.channels_last)
    return pair


def bench_model(name: str, args: argparse.Namespace, device: torch.device, compiled: bool) -> dict[str, object]:
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[args.precision]
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    steps, compile_s = {}, {}
    for lib, model in build_pair(name, device, args.channels_last).items():
        module = torch.compile(model) if compiled else model
        steps[lib] = train_step_fn(module, x, y, dtype)
        begin = time.perf_counter()
        for _ in range(args.warmup):
            steps[lib]()
        if device.type == "cuda":
            torch.cuda.synchronize()
        compile_s[lib] = time.perf_counter() - begin
    rates = interleaved(
        {lib: functools.partial(images_per_s, steps[lib], args, device) for lib in ("timm", "resreg")}, args.rounds
    )
    per_round = ratios(rates["resreg"], rates["timm"])
    return {
        "model": name,
        "mode": "compiled" if compiled else "eager",
        "timm img/s": statistics.median(rates["timm"]),
        "resreg img/s": statistics.median(rates["resreg"]),
        "ratio": statistics.median(per_round),
        "spread": f"{min(per_round):.3f}-{max(per_round):.3f}",
        "warm-up s (timm/resreg)": f"{compile_s['timm']:.1f}/{compile_s['resreg']:.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "densenet121"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--precision", choices=["bf16", "fp16", "fp32"], default="bf16")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--modes", nargs="+", choices=["eager", "compiled"], default=["eager", "compiled"])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per library")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, eager only: proves the script runs")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.smoke:
        args.models, args.batch, args.size, args.steps, args.rounds, args.warmup = ["resnet18"], 2, 64, 1, 2, 1
        args.modes = ["eager"]
        args.precision = "fp32" if device.type == "cpu" else args.precision
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"# {describe_machine()}; timm {timm.__version__}")
    print(f"# train step, batch {args.batch}, {args.size} px, {args.precision}, channels_last={args.channels_last}")
    columns = ["model", "mode", "timm img/s", "resreg img/s", "ratio", "spread", "warm-up s (timm/resreg)"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name in args.models:
        for mode in args.modes:
            row = bench_model(name, args, device, compiled=mode == "compiled")
            cells = [f"{v:,.0f}" if isinstance(v, float) and v > 10 else f"{v:.3f}" if isinstance(v, float) else str(v)
                     for v in (row[c] for c in columns)]  # fmt: skip
            print("| " + " | ".join(cells) + " |", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
