"""Training-loop overhead: images/s of the resreg engine against a bare hand-written loop.

Both train the same model (resnet20 by default), with the same batch, optimiser and in-memory
uint8 images (synthetic, no augmentation), on the same device. Repetitions are interleaved (engine,
bare, engine, bare, ...) so that drifts of a shared machine hit both, and the report is the median
of the per-repetition ratios (goal: engine / bare >= 0.95). Steady state only: the first log window
of each engine run and the first steps of each bare run (allocator and oneDNN warm-up) are not timed.

Also reported: the throughput of the batched augmentation (pad-4 random crop + flip, normalised) on
the device, which is part of every CIFAR training step.

    python benchmarks/train_loop_overhead.py [--model resnet20] [--steps 40] [--reps 3] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import resreg
from resreg.config import validate_config
from resreg.data.augment import AugmentOptions
from resreg.data.loader import make_loader
from resreg.engine.distributed import pick_device
from resreg.engine.run import train
from resreg.plugins import get_registry

WARMUP_STEPS = 5


def config(args: argparse.Namespace) -> dict:
    return {
        "model": args.model,
        "data": {"type": "synthetic", "num_images": args.batch * (args.steps + 1), "image_size": args.size},
        "train": {"type": "fast", "unit": "step", "length": args.steps, "batch_size": args.batch, "lr": 0.05,
                  "warmup": 0, "label_smoothing": 0.0, "eval_every": 10**9},
        "engine": {"log_every": WARMUP_STEPS, "checkpoint_every": 0, "progress": "none", "device": args.device},
        "eval": {"splits": []},
    }  # fmt: skip


def engine_images_per_s(args: argparse.Namespace) -> float:
    """Steady-state images/s as the engine measures it: its log windows after the first."""
    with tempfile.TemporaryDirectory() as run_dir:
        train(validate_config(config(args), "benchmark", get_registry()), source="benchmark", run_dir=Path(run_dir))
        rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    windows = [r for r in rows if "images_per_s" in r][1:]
    seconds = sum(WARMUP_STEPS * args.batch / r["images_per_s"] for r in windows)
    return len(windows) * WARMUP_STEPS * args.batch / seconds


def bare_images_per_s(args: argparse.Namespace) -> float:
    """The loop anyone would write: index the uint8 tensor, normalise, forward, backward, step."""
    torch.manual_seed(0)
    device = pick_device(args.device)
    source = get_registry().build("dataset", config(args)["data"])
    images, labels = source.train.images.to(device), source.train.labels.to(device)
    mean = torch.tensor(source.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(source.std, device=device).view(1, -1, 1, 1)
    model = resreg.create_model(args.model, num_classes=source.num_classes, in_chans=source.in_chans).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    order = torch.randperm(len(labels), device=device)
    model.train()
    for step in range(args.steps):
        if step == WARMUP_STEPS:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = order[step * args.batch : (step + 1) * args.batch]
        x = (images[batch].float() / 255 - mean) / std
        loss = F.cross_entropy(model(x), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    loss.item()  # wait for the device
    return (args.steps - WARMUP_STEPS) * args.batch / (time.perf_counter() - start)


def augmentation_images_per_s(args: argparse.Namespace) -> float:
    """Pad-4 crop + flip + normalisation of whole batches, as the CIFAR recipe's loader does it."""
    device = pick_device(args.device)
    source = get_registry().build("dataset", {"type": "synthetic", "num_images": 8192, "image_size": 32})
    augment = AugmentOptions(crop_padding=4, hflip=True, normalize="pixel")
    loader = make_loader(source.train, batch_size=512, train=True, augment=augment, device=device, seed=0, stats=source)
    start, n = time.perf_counter(), 0
    for images, _ in loader.batches(0):
        n += len(images)
    images.sum().item()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per run")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=32, help="image side")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model}, batch {args.batch}, "
          f"{args.size}x{args.size}, {args.steps} steps x {args.reps} interleaved repetitions")  # fmt: skip
    ratios = []
    for rep in range(args.reps):
        engine = engine_images_per_s(args)
        bare = bare_images_per_s(args)
        ratios.append(engine / bare)
        print(f"rep {rep}: resreg {engine:8.1f} img/s   bare loop {bare:8.1f} img/s   ratio {engine / bare:.3f}")
    print(f"median ratio resreg / bare: {statistics.median(ratios):.3f} (goal >= 0.95)")
    print(f"batched augmentation (pad-4 crop + flip + normalise): {augmentation_images_per_s(args):,.0f} img/s")


if __name__ == "__main__":
    main()
