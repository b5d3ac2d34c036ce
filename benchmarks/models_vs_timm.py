"""resreg vs timm: inference and training-step throughput of the same architectures, side by side.

    python benchmarks/models_vs_timm.py                      # resnet18, resnet50 (+ densenet121)
    python benchmarks/models_vs_timm.py --models resnet18 --batch 16 --size 128 --reps 7
    python benchmarks/models_vs_timm.py --channels-last --compile

Each repetition times resreg and timm back to back (interleaved, so machine noise hits both), and
the table reports images/s and the median over repetitions of the per-repetition ratio
resreg/timm (>= 1.00 means resreg is as fast). Both models get the same weights.
"""

from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch

import resreg


def images_per_s(step, batch: int, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return batch * iters / (time.perf_counter() - start)


def make_steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
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

    return {"infer": infer, "train": train}


def prepare(model: torch.nn.Module, args: argparse.Namespace) -> torch.nn.Module:
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if args.compile else model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50", "densenet121"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=160, help="image side in pixels")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3, help="steps per timing")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, timm {timm.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, {args.size}px, channels_last={args.channels_last}, compile={args.compile}")
    print(f"{'model':<14}{'mode':<7}{'resreg img/s':>14}{'timm img/s':>12}{'ratio':>8}")
    for name in args.models:
        if name not in resreg.list_models():
            print(f"{name:<14}skipped: no resreg preset")
            continue
        theirs = timm.create_model(name)
        ours = resreg.create_model(name)
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(args.batch, 3, args.size, args.size)
        if args.channels_last:
            x = x.to(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (args.batch,))
        steps = {"resreg": make_steps(prepare(ours, args), x, y), "timm": make_steps(prepare(theirs, args), x, y)}
        for mode in ("infer", "train"):
            for impl in steps:  # warm-up (and compilation) outside the timings
                steps[impl][mode]()
            rates: dict[str, list[float]] = {"resreg": [], "timm": []}
            for rep in range(args.reps):
                order = ("resreg", "timm") if rep % 2 == 0 else ("timm", "resreg")
                for impl in order:
                    rates[impl].append(images_per_s(steps[impl][mode], args.batch, args.iters))
            ratio = statistics.median(a / b for a, b in zip(rates["resreg"], rates["timm"], strict=True))
            print(f"{name:<14}{mode:<7}{statistics.median(rates['resreg']):>14.1f}"
                  f"{statistics.median(rates['timm']):>12.1f}{ratio:>8.3f}")


if __name__ == "__main__":
    main()
