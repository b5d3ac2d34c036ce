"""Training-loop overhead: the resreg engine's train step against a bare hand-written loop (goal >= 0.98).

Two cases: the quickstart's model and batch as configs/quickstart.yaml has them (ResNet-20, 1 channel,
28x28, batch 128) and ResNet-50 at 224 px (batch 32), both on synthetic in-memory uint8 images, fp32,
NCHW, on the same device and threads. The
engine runs `resreg.engine.run.train` (loader, schedule, metrics windows, log file, progress off);
the bare loop indexes the same uint8 tensor, normalises, and runs forward, loss, backward and a
Nesterov SGD step. Both are timed over the same steady-state window: the first `--window` steps
(allocator and oneDNN warm-up) are left out, and the engine's own log windows give its rate.
Repetitions alternate (engine, bare, bare, engine, ...); the table gives the median images/s of each
and the median of the per-repetition ratios with its spread.

    python benchmarks/train_loop_overhead.py                    # both cases, 5 repetitions
    python benchmarks/train_loop_overhead.py --cases quickstart --reps 9
    python benchmarks/train_loop_overhead.py --smoke            # seconds: tiny sizes, proves it runs

Prints the machine (CPU model, AMX / AVX512-BF16 / kernel level), then one row per case.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from harness import describe_machine, interleaved, print_table, ratios, set_threads, spread

import resreg
from resreg.config import load_config, validate_config
from resreg.engine.distributed import pick_device
from resreg.engine.run import train
from resreg.plugins import get_registry

GOAL = 0.98


@dataclass(frozen=True)
class Case:
    model: str | dict  # a preset name or a model spec, as a config's `model:`
    in_chans: int
    size: int  # image side in pixels
    batch: int
    num_classes: int
    steps: int  # optimizer steps per run, the first `window` of them not timed
    window: int  # steps per engine log window


QUICKSTART = load_config("quickstart")
CASES = {
    "quickstart": Case(
        QUICKSTART["model"],
        in_chans=1,
        size=28,
        batch=QUICKSTART["train"]["batch_size"],
        num_classes=10,
        steps=60,
        window=10,
    ),
    "resnet50": Case("resnet50", in_chans=3, size=224, batch=32, num_classes=1000, steps=12, window=3),
}
SMOKE = {
    "quickstart": replace(CASES["quickstart"], batch=16, steps=2, window=1),
    "resnet50": replace(CASES["resnet50"], size=32, batch=2, steps=2, window=1),
}


def model_name(model: str | dict) -> str:
    return model if isinstance(model, str) else model.get("preset", "custom")


def data_spec(case: Case) -> dict:
    return {"type": "synthetic", "num_images": case.batch * case.steps, "image_size": case.size,
            "in_chans": case.in_chans, "num_classes": case.num_classes}  # fmt: skip


def engine_images_per_s(case: Case, args: argparse.Namespace) -> float:
    """Steady-state images/s as the engine measures it: its log windows after the first."""
    config = {
        "model": case.model,
        "data": data_spec(case),
        "train": {"preset": "fast", "unit": "step", "length": case.steps, "batch_size": case.batch, "lr": 0.05,
                  "schedule": {"warmup": 0}, "label_smoothing": 0.0, "eval_every": 10**9},
        "engine": {"log_every": case.window, "checkpoint_every": 0, "progress": "none", "device": args.device,
                   "precision": "fp32", "channels_last": False, "threads": args.threads},
        "eval": {"splits": []},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as run_dir:
        train(
            validate_config(config, "benchmark", get_registry()),
            source="benchmark",
            run_dir=Path(run_dir),
            registry=get_registry(),
        )
        rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    windows = [(r["step"], r["images_per_s"]) for r in rows if "images_per_s" in r]
    images = [(step - before) * case.batch for (before, _), (step, _) in itertools.pairwise(windows)]
    seconds = [n / rate for n, (_, rate) in zip(images, windows[1:], strict=True)]
    return sum(images) / sum(seconds)


def bare_images_per_s(case: Case, args: argparse.Namespace) -> float:
    """The loop anyone would write: index the uint8 tensor, normalise, forward, backward, step."""
    torch.manual_seed(0)
    device = pick_device(args.device)
    source = get_registry().build("dataset", data_spec(case))
    images, labels = source.train.images.to(device), source.train.labels.to(device)
    mean = torch.tensor(source.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(source.std, device=device).view(1, -1, 1, 1)
    model = resreg.create_model(case.model, num_classes=case.num_classes, in_chans=case.in_chans).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    order = torch.randperm(len(labels), device=device)
    model.train()
    for step in range(case.steps):
        if step == case.window:  # the engine's first log window is not timed either
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = order[step * case.batch : (step + 1) * case.batch]
        x = (images[batch].float() / 255 - mean) / std
        loss = F.cross_entropy(model(x), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    loss.item()  # wait for the device
    return (case.steps - case.window) * case.batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (engine and bare each)")
    parser.add_argument("--steps", type=int, help="optimizer steps per run (default: per case)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default: all usable cores; 1 with --smoke)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 2 repetitions: checks that it runs")
    args = parser.parse_args()
    cases = SMOKE if args.smoke else CASES
    reps = 2 if args.smoke else args.reps
    args.threads = set_threads(args.threads, smoke=args.smoke)
    print(describe_machine())
    print(f"fp32, NCHW, device {args.device}, {reps} interleaved repetitions; ratio = resreg engine / bare loop")
    rows = []
    for name in args.cases:
        case = cases[name] if args.steps is None else replace(cases[name], steps=args.steps)
        rates = interleaved(
            {"engine": lambda c=case: engine_images_per_s(c, args), "bare": lambda c=case: bare_images_per_s(c, args)},
            reps,
        )
        ratio = ratios(rates["engine"], rates["bare"])
        rows.append([
            name, f"{model_name(case.model)} {case.in_chans}x{case.size}x{case.size} b{case.batch}",
            f"{statistics.median(rates['engine']):.1f}", f"{statistics.median(rates['bare']):.1f}",
            spread(ratio), "yes" if statistics.median(ratio) >= GOAL else "NO",
        ])  # fmt: skip
    print_table(["case", "model, input, batch", "engine img/s", "bare img/s", "ratio median [min .. max]",
                 f">= {GOAL}"], rows)  # fmt: skip


if __name__ == "__main__":
    main()
