"""Images/s of resreg's image-folder loader against torchvision's ImageFolder + DataLoader, same workers and transforms.

The script writes a folder of JPEGs in the ImageFolder layout (`--images` files, 10 classes, smooth
random content at `--width`x`--height`) to a temporary directory, or reads `--root` if given. Both
loaders do the ImageNet training transform: shorter side resized to a random length in `--scale`
(bilinear), a random `--crop` square, a horizontal flip, float32 normalised with the ImageNet mean and
std, in shuffled batches of `--batch` with `--workers` persistent worker processes; nothing else
(no model) consumes the batches. Each repetition runs `--epochs` epochs of a fresh loader: the first
epoch includes starting the workers, the later ones are the steady state. Repetitions alternate
(resreg, torchvision, torchvision, resreg, ...); the table gives first-epoch and steady images/s
(median [min .. max]) and the median per-repetition ratio of the steady rates.

    python benchmarks/folder_loader_throughput.py                        # 2,000 JPEGs of 160x120, 3 reps
    python benchmarks/folder_loader_throughput.py --root ~/imagenet-subset --crop 224 --scale 256 480
    python benchmarks/folder_loader_throughput.py --smoke                # seconds: 64 tiny JPEGs
    python benchmarks/folder_loader_throughput.py --device cuda --decode cuda   # JPEGs decoded on the GPU

With `--device cuda` resreg's batches end on the GPU (torchvision's stay on the CPU, as its loader gives
them): `--decode cpu` is PIL in the workers, `--decode cuda` the workers' bytes decoded in batches by nvJPEG.

Prints the machine (CPU model, AMX / AVX512-BF16 / kernel level), then one row per loader and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from harness import describe_machine, interleaved, print_table, ratios, set_threads, spread, usable_cores
from PIL import Image
from resreg_plugins.datasets.imagefolder import imagefolder
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from resreg.data import AugmentOptions, make_loader


def write_jpegs(root: Path, n: int, width: int, height: int) -> None:
    """n JPEGs in root/train/<class>/: smooth colour gradients plus noise (they compress like photos)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(n):
        folder = root / "train" / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        a, b, c = rng.uniform(-1, 1, (3, 3))
        base = np.stack([a[k] * xx / width + b[k] * yy / height + c[k] for k in range(3)], axis=-1)
        pixels = np.clip(128 + 100 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=85)


def epoch_rates(epochs: Iterable[Iterable], images_per_epoch: int, device: str = "cpu") -> list[float]:
    """images/s of each epoch, consuming every batch."""
    rates = []
    for batches in epochs:
        start = time.perf_counter()
        for images, _ in batches:
            images.sum()  # touch the batch, as a model would
        if device == "cuda":
            torch.cuda.synchronize()  # the GPU's work of the epoch is done before the clock stops
        rates.append(images_per_epoch / (time.perf_counter() - start))
    return rates


def resreg_rates(args: argparse.Namespace) -> list[float]:
    source = imagefolder(root=str(args.root), val_dir="", image_size=args.crop)
    augment = AugmentOptions(scale=tuple(args.scale), crop_size=args.crop, hflip=True)
    loader = make_loader(
        source.train, batch_size=args.batch, train=True, augment=augment, device=torch.device(args.device), seed=0,
        stats=source, num_workers=args.workers, decode=args.decode,
    )  # fmt: skip
    return epoch_rates((loader.batches(epoch) for epoch in range(args.epochs)), loader.num_images, args.device)


def torchvision_rates(args: argparse.Namespace) -> list[float]:
    transform = v2.Compose([
        v2.RandomResize(args.scale[0], args.scale[1] + 1),  # shorter side in [a, b]
        v2.RandomCrop(args.crop),
        v2.RandomHorizontalFlip(),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    ])  # fmt: skip
    dataset = ImageFolder(str(args.root / "train"), transform=transform)
    loader = DataLoader(
        dataset, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )  # fmt: skip
    return epoch_rates((loader for _ in range(args.epochs)), len(loader) * args.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="an existing folder with ROOT/train/<class>/<image>")
    parser.add_argument("--images", type=int, default=2000, help="JPEGs to write (without --root)")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--scale", type=int, nargs=2, default=[104, 128], help="shorter side drawn in [a, b]")
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=min(4, usable_cores()))
    parser.add_argument("--epochs", type=int, default=3, help="per repetition; the first includes worker start-up")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores; 1 with --smoke)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where resreg's batches end")
    parser.add_argument("--decode", choices=["cpu", "cuda"], default="cpu", help="resreg's data.decode")
    parser.add_argument("--smoke", action="store_true", help="64 tiny JPEGs, 2 workers, 1 repetition")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.width, args.height, args.scale, args.crop = 64, 40, 32, [28, 32], 24
        args.batch, args.workers, args.epochs, args.reps = 16, 2, 2, 1
    args.threads = set_threads(args.threads, smoke=args.smoke)
    print(describe_machine())
    with tempfile.TemporaryDirectory() as tmp:
        if args.root is None:
            args.root = Path(tmp)
            write_jpegs(args.root, args.images, args.width, args.height)
        n = sum(1 for p in (args.root / "train").rglob("*") if p.is_file())
        print(f"{n} images in {args.root}/train; shorter side {args.scale[0]}-{args.scale[1]}, crop {args.crop}, "
              f"flip, normalise; batch {args.batch}, {args.workers} persistent workers, resreg on {args.device} "
              f"decoding on {args.decode}, {args.epochs} epochs x "
              f"{args.reps} interleaved repetitions")  # fmt: skip
        runs = interleaved({"resreg": lambda: resreg_rates(args), "torchvision": lambda: torchvision_rates(args)},
                           args.reps)  # fmt: skip
    steady = {name: [statistics.median(r[1:] or r) for r in rates] for name, rates in runs.items()}
    rows = [[name, spread([r[0] for r in rates], 0), spread(steady[name], 0)] for name, rates in runs.items()]
    print_table(["loader", "first epoch img/s", "later epochs img/s"], rows)
    print(f"ratio resreg / torchvision (later epochs): {spread(ratios(steady['resreg'], steady['torchvision']))}")


if __name__ == "__main__":
    main()
