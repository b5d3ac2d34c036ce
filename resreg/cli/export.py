"""Export a model for runtimes without resreg: resreg export SOURCE --format onnx|pt2 [-o PATH].

resreg export runs/quickstart --format onnx             # runs/quickstart/model.onnx
resreg export hf-hub:me/resnet20-fmnist --format pt2 -o r20.pt2
resreg export model.safetensors --format onnx --input-size 64
resreg export runs/fmnist-resnet32-snapshots/ensemble.yaml --format onnx  # an ensemble: members averaged

ONNX goes through torch.onnx.export(dynamo=True) and carries the preprocessing and class names as
metadata_props; pt2 is a torch.export program (torch.export.save). The batch dimension is dynamic;
height and width are the model's saved input size unless --input-size says otherwise. Prints the
path written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from resreg.cli.input_size import add_input_size_argument, parse_input_size
from resreg.errors import ConfigError

if TYPE_CHECKING:
    import torch

ACCEPTED = "a run dir, a .safetensors file, a model folder, hf-hub:owner/name[@rev]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help=f"{ACCEPTED}, or an ensemble config")
    parser.add_argument("--format", choices=("onnx", "pt2"), required=True, help="ONNX file or torch.export program")
    parser.add_argument("-o", "--output", type=Path, help="the file to write (default: beside the source, or ./NAME)")
    add_input_size_argument(parser)


def run(args: argparse.Namespace) -> int:
    from resreg.export import FORMATS, export

    source = args.source.removeprefix("local-dir:")
    model = load_exportable(source)
    size = parse_input_size(args.input_size, model.pretrained_cfg["input_size"][0])
    output = args.output or default_output(source, FORMATS[args.format])
    path = export(model, output, args.format, input_size=size)
    print(path)
    return 0


def load_exportable(source: str) -> torch.nn.Module:
    """The model of a saved-model source, or of an ensemble config (`ensemble.yaml`, as `resreg eval` takes it)."""
    from resreg.cli.run_paths import check_names_saved_weights, check_run_has_weights
    from resreg.models import create_model, load_model

    if Path(source).suffix not in (".yaml", ".yml"):
        check_run_has_weights(source, "export")
        check_names_saved_weights(source, "export")
        return load_model(source)
    from resreg.config import load_config

    spec = load_config(source).get("model")
    if not isinstance(spec, dict) or spec.get("type") != "ensemble":
        raise ConfigError(
            f"{source}: a config's model has no trained weights to export; export takes {ACCEPTED} "
            "or an ensemble config (ensemble.yaml)"
        )
    return create_model(spec)


def default_output(source: str, suffix: str) -> Path:
    """DIR/model.onnx for a run dir or folder, x.onnx for x.safetensors, ./NAME.onnx for hf-hub:owner/NAME."""
    from resreg.loading.names import parse_source

    name = parse_source(source)
    if name.repo_id is not None:
        return Path(name.repo_id.split("/", 1)[-1] + suffix)
    path = Path(source)
    return path / f"model{suffix}" if path.is_dir() else path.with_suffix(suffix)
