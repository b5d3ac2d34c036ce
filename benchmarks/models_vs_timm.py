"""resreg vs timm: eval and train-step throughput of the same architectures, side by side (goal >= 1.00).

For each model (resnet18, resnet50, densenet121 by default) resreg and timm build the architecture and
resreg loads timm's weights, so both compute the same function. Each timing runs `--iters` steps of
one of them on the same fp32 batch: eval is a forward pass in inference mode, train is forward,
cross-entropy, backward and an SGD step. The two alternate in `--pairs` back-to-back pairs (resreg
then timm, timm then resreg, ...), and the table gives, per model and mode, the median images/s of
each and the median of the per-pair ratios resreg/timm with its spread ([min .. max] and the
quartiles). Each memory format asked for (NCHW, and channels_last as NHWC) is a column of ratios.

    python benchmarks/models_vs_timm.py                       # 3 models x eval/train x NCHW/NHWC, 15 pairs
    python benchmarks/models_vs_timm.py --models resnet50 --formats nchw --pairs 31 --batch 32 --size 224
    python benchmarks/models_vs_timm.py --compile             # both wrapped in torch.compile
    python benchmarks/models_vs_timm.py --smoke               # seconds: tiny sizes, proves it runs

Prints the machine (CPU model, AMX / AVX512-BF16 / kernel level), then one row per model and mode.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import timm
import torch
from harness import describe_machine, interleaved, print_table, ratios, set_threads, spread

import resreg

GOAL = 1.00
FORMATS = {"nchw": torch.contiguous_format, "nhwc": torch.channels_last}


def make_steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable[[], None]]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def infer() -> None:
        model.eval()
        with torch.inference_mode():
            model(x)

    def train() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return {"eval": infer, "train": train}


def images_per_s(step: Callable[[], None], batch: int, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return batch * iters / (time.perf_counter() - start)


def compare(name: str, fmt: str, args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """images/s per mode and implementation, `args.pairs` interleaved pairs each."""
    torch.manual_seed(0)
    theirs = timm.create_model(name)
    ours = resreg.create_model(name)
    ours.load_state_dict(theirs.state_dict())  # the same weights: the same function
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=FORMATS[fmt])
    y = torch.randint(0, 1000, (args.batch,))
    steps = {}
    for impl, model in (("resreg", ours), ("timm", theirs)):
        model = model.to(memory_format=FORMATS[fmt])
        steps[impl] = make_steps(torch.compile(model) if args.compile else model, x, y)
    rates = {}
    for mode in ("eval", "train"):
        for impl in steps:  # warm-up (oneDNN primitives, compilation) outside the timings
            steps[impl][mode]()
        rates[mode] = interleaved(
            {impl: lambda s=steps[impl][mode]: images_per_s(s, args.batch, args.iters) for impl in steps}, args.pairs
        )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50", "densenet121"])
    parser.add_argument("--formats", nargs="+", choices=list(FORMATS), default=list(FORMATS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=160, help="image side in pixels")
    parser.add_argument("--pairs", type=int, default=15, help="interleaved resreg/timm pairs per model and mode")
    parser.add_argument("--iters", type=int, default=2, help="steps per timing")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default: all usable cores; 1 with --smoke)"
    )
    parser.add_argument("--compile", action="store_true", help="wrap both models in torch.compile")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 2 pairs: checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.size, args.pairs, args.iters = 2, 32, 2, 1
    args.threads = set_threads(args.threads, smoke=args.smoke)
    print(describe_machine())
    print(f"timm {timm.__version__}; fp32, batch {args.batch}, {args.size} px, compile={args.compile}; "
          f"{args.pairs} interleaved pairs of {args.iters} steps; ratio = resreg / timm images/s")  # fmt: skip
    header = ["model", "mode"]
    for fmt in args.formats:
        header += [f"{fmt.upper()} resreg img/s", "timm img/s", f"{fmt.upper()} ratio median [min .. max]"]
    rows = {(name, mode): [name, mode] for name in args.models for mode in ("eval", "train")}
    for name in args.models:
        if name not in resreg.list_models():
            print(f"{name}: skipped, no resreg preset of that name")
            continue
        for fmt in args.formats:
            for mode, rates in compare(name, fmt, args).items():
                ratio = ratios(rates["resreg"], rates["timm"])
                rows[name, mode] += [f"{statistics.median(rates['resreg']):.1f}",
                                     f"{statistics.median(rates['timm']):.1f}", spread(ratio)]  # fmt: skip
    print_table(header, [row for row in rows.values() if len(row) == len(header)])


if __name__ == "__main__":
    main()
