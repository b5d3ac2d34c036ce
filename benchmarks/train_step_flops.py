"""How close a ResNet-50 fp32 train step comes to the machine's fp32 matmul rate, measured in one run (goal >= 75%).

The model's FLOPs per train step (forward and backward, convolutions and matrix products) are
counted by torch.utils.flop_counter.FlopCounterMode (2 FLOPs per multiply-add; ResNet-50 at 224 px:
about 24.6 GFLOP per image); its rate is those FLOPs over the wall time of plain steps (forward,
cross-entropy, backward, Nesterov SGD) after a warm-up step. The machine's rate is torch.mm of two
NxN fp32 matrices (N = 4096: 2N^3 = 137 GFLOP per product) on the same threads. The two alternate
over the repetitions; the table gives each rate's median and the median per-repetition ratio with
its spread. Element-wise work (BatchNorm, ReLU, the optimizer) is not counted, so 100% is out of reach.

    python benchmarks/train_step_flops.py                    # resnet50, 224 px, batch 32, 5 repetitions
    python benchmarks/train_step_flops.py --batch 64 --reps 9 --matmul 8192
    python benchmarks/train_step_flops.py --smoke            # seconds: tiny sizes, proves it runs

Prints the machine (CPU model, AMX / AVX512-BF16 / kernel level), then the two rates and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from harness import describe_machine, interleaved, print_table, ratios, set_threads, spread
from torch.utils.flop_counter import FlopCounterMode

import resreg

GOAL = 0.75


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def model_flops_per_s(args: argparse.Namespace):
    """A measurement (-> FLOP/s of train steps) and the FLOPs of one step."""
    torch.manual_seed(0)
    model = resreg.create_model(args.model, num_classes=1000).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-5)
    x = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 1000, (args.batch,))
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimizer, x, y)  # also the warm-up (oneDNN primitives, allocator)
    flops = counter.get_total_flops()

    def measure() -> float:
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(model, optimizer, x, y)
        return flops * args.steps / (time.perf_counter() - start)

    return measure, flops


def matmul_flops_per_s(args: argparse.Namespace):
    """A measurement (-> FLOP/s of torch.mm on NxN fp32 matrices)."""
    n = args.matmul
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm-up

    def measure() -> float:
        start = time.perf_counter()
        for _ in range(args.matmul_iters):
            torch.mm(a, b, out=out)
        return 2 * n**3 * args.matmul_iters / (time.perf_counter() - start)

    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2, help="train steps per timing")
    parser.add_argument("--matmul", type=int, default=4096, help="side N of the NxN matrices")
    parser.add_argument("--matmul-iters", type=int, default=4, help="products per timing")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default: all usable cores; 1 with --smoke)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 2 repetitions: checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.batch, args.steps, args.matmul, args.matmul_iters, args.reps = 32, 2, 1, 256, 2, 2
    args.threads = set_threads(args.threads, smoke=args.smoke)
    print(describe_machine())
    model, flops = model_flops_per_s(args)
    print(f"{args.model} fp32 train step, batch {args.batch}, {args.size} px: {flops / 1e9:.1f} GFLOP per step "
          f"({flops / args.batch / 1e9:.2f} per image); torch.mm {args.matmul}^2 fp32; {args.reps} interleaved "
          "repetitions")  # fmt: skip
    rates = interleaved({"model": model, "matmul": matmul_flops_per_s(args)}, args.reps)
    ratio = ratios(rates["model"], rates["matmul"])
    print_table(
        ["measured", "GFLOP/s median [min .. max]"],
        [[f"{args.model} train step", spread([r / 1e9 for r in rates["model"]], 2)],
         [f"torch.mm {args.matmul}x{args.matmul}", spread([r / 1e9 for r in rates["matmul"]], 2)],
         ["ratio model / matmul", spread(ratio)]],
    )  # fmt: skip
    verdict = "meets" if statistics.median(ratio) >= GOAL else "misses"
    print(f"median ratio {statistics.median(ratio):.3f}: {verdict} the goal >= {GOAL}")


if __name__ == "__main__":
    main()
