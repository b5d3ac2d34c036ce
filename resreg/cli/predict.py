"""Classify images with a model: resreg predict SOURCE IMAGE_OR_FOLDER... [--top-k 5] [--json].

resreg predict runs/quickstart shoe.png photos/          # a run dir, its final weights
resreg predict hf-hub:me/resnet20-fmnist *.png --top-k 3 # a Hub repo (or a folder, or a .safetensors file)
resreg predict model.safetensors photos/ --json          # one JSON object: predictions and failed images
resreg predict runs/fmnist-resnet32-snapshots/ensemble.yaml shoe.png   # a config that brings its weights

Images are prepared as the model's evaluation prepared them (its saved input size, channels, crop,
interpolation and normalisation): JPEG, PNG and the other formats PIL reads, grey or colour, 8- or
16-bit, turned upright by their EXIF orientation, converted to the model's channel count; folders are
searched for image files and run in batches. An image that cannot be read (not an image, truncated,
over 64 megapixels: a possible decompression bomb) is one warning line naming it; the others still
run. Exit status: 0 when at least one image was classified, 2 when none could be (each failure named
on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resreg.errors import ConfigError, DataError

#: what predict runs (its help, and the message when it is given something else)
ACCEPTED = (
    "a run dir, a .safetensors file, a model folder, hf-hub:owner/name, or a config whose model brings its "
    "weights (pretrained:, or an ensemble of saved models such as a snapshot run's ensemble.yaml)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help=ACCEPTED)
    parser.add_argument("images", nargs="+", help="image files and folders of images")
    parser.add_argument("--top-k", type=int, default=5, help="classes shown per image (default 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    parser.add_argument("--device", help="where to run: cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of one line per image")


def run(args: argparse.Namespace) -> int:
    import warnings

    import torch

    from resreg.prediction import ImageWarning, predict

    model = _model(args.source)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImageWarning)
        predictions = predict(model, args.images, top_k=args.top_k, batch_size=args.batch_size, device=device)
    failed = [str(w.message) for w in caught if issubclass(w.category, ImageWarning)]
    for message in failed:
        print(f"resreg: warning: {message}", file=sys.stderr)
    if not predictions:
        raise DataError(f"none of the {len(failed) or len(args.images)} image(s) could be classified (see above)")
    if args.json:
        print(json.dumps({"source": args.source, "predictions": [p.to_json() for p in predictions], "failed": failed}))
    else:
        for p in predictions:
            top = ", ".join(f"{label} {prob:.3f}" for label, prob in zip(p.labels, p.probabilities, strict=True))
            print(f"{p.image}: {top}")
    return 0


def _model(source: str) -> Any:
    """The model `source` names, with its weights and preprocessing: a config's model (as `resreg eval
    CONFIG` builds it), or a weights source (hf-hub:, local-dir:, a file, a run dir, a folder)."""
    from resreg.cli.run_paths import check_names_saved_weights, check_run_has_weights
    from resreg.models import create_model, load_model

    if Path(source).suffix not in (".yaml", ".yml"):
        check_run_has_weights(source, "predict")
        check_names_saved_weights(source, "predict")
        return load_model(source)
    from resreg.config import load_config

    spec = load_config(source).get("model")  # ${config_dir} resolved: ensemble.yaml names its snapshots so
    if not (isinstance(spec, Mapping) and (spec.get("type") == "ensemble" or spec.get("pretrained"))):
        raise ConfigError(f"{source}: its model names no weights to predict with; resreg predict takes {ACCEPTED}")
    return create_model(spec)
