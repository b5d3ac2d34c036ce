"""The GPU suite's helpers (benchmarks/gpu_suite.sh): its JPEG folder, and one table row per measured run.

    python benchmarks/gpu_suite_tables.py jpegs ROOT --classes 100 --per-class 64      # ImageNet-like JPEGs
    python benchmarks/gpu_suite_tables.py row LABEL RUN_DIR --util UTIL.csv --reference 4716 --goal 0.97
    python benchmarks/gpu_suite_tables.py bare TABLE.md resnet50     # resreg img/s from gpu_train_vs_timm.py

A run's images/s is the median of its metrics.jsonl windows after the first (the first holds cuDNN's
autotuning and the loader's start); GPU utilisation is the mean of nvidia-smi's samples between the
first and the last busy one (the command's start-up and its final evaluation's tail are not training).
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def _write_class(args: tuple[Path, int, int, int, int, int, int]) -> int:
    """Write one class's JPEGs: smooth random colour fields (photo-like entropy, so encoded sizes are real)."""
    root, label, count, val, width, height, quality = args
    rng = np.random.default_rng(label)
    for split, n in (("train", count), ("val", val)):
        folder = root / split / f"n{label:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
            image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
            noise = rng.integers(-12, 13, (height, width, 3))
            pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{split}_{i:05d}.JPEG", quality=quality)
    return count + val


def write_jpegs(root: Path, classes: int, per_class: int, val: int, width: int, height: int, quality: int) -> int:
    """ROOT/train/<class>/*.JPEG and ROOT/val/<class>/*.JPEG, written in parallel; returns the count."""
    jobs = [(root, label, per_class, val, width, height, quality) for label in range(classes)]
    with ProcessPoolExecutor() as pool:
        return sum(pool.map(_write_class, jobs))


def images_per_s(run_dir: Path) -> float | None:
    """The training images/s of a run: the median over its log windows after the first; None if it never logged."""
    metrics = run_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.is_file() else []
    rates = [row["images_per_s"] for row in rows if row.get("images_per_s")]
    return statistics.median(rates[1:] or rates) if rates else None


def ratio_cell(rate: float, reference: str, goal: float | None) -> str:
    """rate / reference (images/s, or a run directory's), marked against the goal; '-' without a reference."""
    try:
        denominator = float(reference)
    except ValueError:  # a run directory (that may not exist: its run failed before writing it)
        denominator = images_per_s(Path(reference))
    if not denominator:
        return "-"
    cell = f"{rate / denominator:.3f}"
    if goal is not None:
        cell += " ✓" if rate / denominator >= goal else f" ✗ (goal {goal})"
    return cell


def busy_utilisation(samples: Path) -> str:
    """Mean GPU utilisation % between the first and last busy sample; '-' without samples (no nvidia-smi)."""
    if not samples.is_file():
        return "-"
    values = [int(v) for v in samples.read_text().split() if v.strip().isdigit()]
    busy = [i for i, v in enumerate(values) if v > 0]
    return f"{statistics.fmean(values[busy[0] : busy[-1] + 1]):.0f}" if busy else "0"


def bare_step_rate(table: Path, model: str) -> float:
    """resreg's images/s for `model` in a gpu_train_vs_timm.py table (its eager row)."""
    for line in table.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 3 and cells[0] == model and cells[1] == "eager":
            return float(cells[3].replace(",", ""))
    raise SystemExit(f"{table}: no eager row for {model}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    jpegs = commands.add_parser("jpegs", help="write an ImageNet-like JPEG folder")
    jpegs.add_argument("root", type=Path)
    jpegs.add_argument("--classes", type=int, default=100)
    jpegs.add_argument("--per-class", type=int, default=64, help="train images per class")
    jpegs.add_argument("--val-per-class", type=int, default=1)
    jpegs.add_argument("--width", type=int, default=500)
    jpegs.add_argument("--height", type=int, default=375)
    jpegs.add_argument("--quality", type=int, default=90)
    row = commands.add_parser("row", help="one markdown row: label, images/s, ratio to a reference, GPU use")
    row.add_argument("label")
    row.add_argument("run_dir", type=Path)
    row.add_argument("--util", type=Path, default=Path("/nonexistent"), help="nvidia-smi samples, one per line")
    row.add_argument("--reference", help="images/s, or a run directory, that the ratio divides by")
    row.add_argument("--goal", type=float, help="the ratio the issue asks for")
    bare = commands.add_parser("bare", help="the bare step's images/s from a gpu_train_vs_timm.py table")
    bare.add_argument("table", type=Path)
    bare.add_argument("model")
    args = parser.parse_args()
    if args.command == "jpegs":
        count = write_jpegs(args.root, args.classes, args.per_class, args.val_per_class, args.width, args.height,
                            args.quality)  # fmt: skip
        print(f"wrote {count:,} JPEGs ({args.width}x{args.height}, quality {args.quality}) in {args.root}")
    elif args.command == "bare":
        print(f"{bare_step_rate(args.table, args.model):.1f}")
    else:
        rate = images_per_s(args.run_dir)
        if rate is None:
            raise SystemExit(f"{args.run_dir}: no images/s in its metrics.jsonl (did the run train?)")
        ratio = ratio_cell(rate, args.reference, args.goal) if args.reference else "-"
        print(f"| {args.label} | {rate:,.0f} | {ratio} | {busy_utilisation(args.util)} |")


if __name__ == "__main__":
    main()
