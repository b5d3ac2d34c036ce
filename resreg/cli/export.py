"""Export a model for runtimes without resreg: resreg export SOURCE --format onnx|pt2 [-o PATH].

resreg export runs/quickstart --format onnx             # runs/quickstart/model.onnx
resreg export hf-hub:me/resnet20-fmnist --format pt2 -o r20.pt2
resreg export model.safetensors --format onnx --input-size 64

ONNX goes through torch.onnx.export(dynamo=True) and carries the preprocessing and class names as
metadata_props; pt2 is a torch.export program (torch.export.save). The batch dimension is dynamic;
height and width are the model's saved input size unless --input-size says otherwise. Prints the
path written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from resreg.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a run dir, a .safetensors file, a model folder or hf-hub:owner/name[@rev]")
    parser.add_argument("--format", choices=("onnx", "pt2"), required=True, help="ONNX file or torch.export program")
    parser.add_argument("-o", "--output", type=Path, help="the file to write (default: beside the source, or ./NAME)")
    parser.add_argument("--input-size", type=int, nargs="+", metavar="PIXELS",
                        help="height and width of the traced input (one number: square)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from resreg.export import FORMATS, export
    from resreg.weights import load_model

    size = args.input_size
    if size is not None and (len(size) not in (1, 2) or min(size) < 1):
        raise ConfigError(f"--input-size takes one or two positive numbers (height width), got {size}")
    source = args.source.removeprefix("local-dir:")
    model = load_model(source)
    output = args.output or default_output(source, FORMATS[args.format])
    path = export(model, output, args.format, input_size=None if size is None else (size[0], size[-1]))
    print(path)
    return 0


def default_output(source: str, suffix: str) -> Path:
    """DIR/model.onnx for a run dir or folder, x.onnx for x.safetensors, ./NAME.onnx for hf-hub:owner/NAME."""
    if source.startswith("hf-hub:"):
        return Path(source.split("/", 1)[-1].split("@", 1)[0] + suffix)
    path = Path(source)
    return path / f"model{suffix}" if path.is_dir() else path.with_suffix(suffix)
