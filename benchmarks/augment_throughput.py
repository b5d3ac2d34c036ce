"""Images/s of resreg's batched pad-crop + flip against torchvision.transforms.v2 applied image by image.

Both work on CIFAR-sized uint8 images (3x32x32, padding 4, random 32x32 crop, horizontal flip) on the
CPU; the batched path includes drawing its random numbers. Run:

    python benchmarks/augment_throughput.py [--batch-size 512] [--threads 1]
    python benchmarks/augment_throughput.py --smoke      # seconds: proves it runs

Figures on a shared 2-core machine are noisy (+-15%): compare the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse

import torch
from harness import describe_machine, set_threads
from torch.utils.benchmark import Timer
from torchvision.transforms import v2

from resreg.data.augment import AugmentOptions, apply_crop, apply_flip, draw


def batched(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    d = draw(AugmentOptions(crop_padding=4, hflip=True), len(images), generator, crop=True)
    return apply_flip(apply_crop(images, d.where, (32, 32), padding=4), d.flips)


def per_image(images: torch.Tensor, transform: v2.Transform) -> torch.Tensor:
    return torch.stack([transform(image) for image in images])


def images_per_second(stmt: str, scope: dict, n: int, seconds: float) -> float:
    measurement = Timer(stmt, globals=scope).blocked_autorange(min_run_time=seconds)
    return n / measurement.median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores; 1 with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a batch of 32 timed for 0.1 s: checks that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.batch_size = 32
    args.threads = set_threads(args.threads, smoke=args.smoke)
    seconds = 0.1 if args.smoke else 2.0
    print(describe_machine())
    images = torch.randint(0, 256, (args.batch_size, 3, 32, 32), dtype=torch.uint8)
    transform = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])
    scope = {"images": images, "generator": torch.Generator().manual_seed(0), "transform": transform}
    scope |= {"batched": batched, "per_image": per_image}
    ours = images_per_second("batched(images, generator)", scope, args.batch_size, seconds)
    theirs = images_per_second("per_image(images, transform)", scope, args.batch_size, seconds)
    print(f"uint8 3x32x32, batch {args.batch_size}, {args.threads} thread(s), pad 4 + random crop + flip on the CPU")
    print(f"resreg batched:                 {ours:12,.0f} images/s")
    print(f"torchvision.transforms.v2/image: {theirs:12,.0f} images/s")
    print(f"ratio (batched / per image):     {ours / theirs:12.1f}x")


if __name__ == "__main__":
    main()
