"""Plot training (thin) and test (bold) error of runs against iterations, one colour per run.

resreg plot runs/cifar10-plain20 runs/cifar10-plain56 -o plain.png   # like Figure 6 of the ResNet paper
resreg plot runs/cifar10-resnet20                                   # writes runs/cifar10-resnet20/curves.png

With one run and no -o, the figure goes to RUN_DIR/curves.png, where `resreg push` picks it up for
the model card; with several runs, the default is curves.png in the current directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from resreg.layout import CURVES_FILE  # the name `resreg push` looks for in a run dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories (metrics.jsonl)")
    parser.add_argument("-o", "--output", type=Path, help="the image to write (.png, .pdf, .svg, ...)")
    parser.add_argument("--title", help="a title above the plot")


def run(args: argparse.Namespace) -> int:
    from resreg.plot import plot_runs

    out = args.output or (args.run_dirs[0] / CURVES_FILE if len(args.run_dirs) == 1 else Path(CURVES_FILE))
    print(plot_runs(args.run_dirs, out, title=args.title))
    return 0
