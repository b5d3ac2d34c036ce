"""Evaluate a model: resreg eval RUN_DIR | WEIGHTS | CONFIG [KEY=VALUE ...].

resreg eval runs/cifar10-resnet20                       # the run's final weights on its data
resreg eval runs/cifar10-resnet20 eval.ten_crop=true    # with 10-crop testing
resreg eval model.safetensors data=fashion_mnist        # a weights file (or hf-hub:owner/name) on a data set
resreg eval cifar10/resnet20 --weights model.safetensors

Prints loss, top-1 and top-5 error of each split in `eval.splits` (val, test; null: every split the
data set has; a named split it lacks is an error).
For a weights file the normalisation is the one its header records (per channel, or the per-pixel mean
image of the CIFAR recipes), computed from the data set's train split; a recipe overrides it (train=cifar_resnet).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from resreg.errors import ConfigError
from resreg.layout import MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a run directory, a weights file or hf-hub:owner/name, or a config")
    parser.add_argument(
        "overrides", nargs="*", default=[], help="KEY=VALUE dotlist overrides (data.root=..., eval.scales=[...])"
    )
    parser.add_argument("--weights", help="weights to load into the model of a config (a file or hf-hub:...)")
    parser.add_argument("--checkpoint", choices=("final", "best", "last"), default="final",
                        help="which weights of a run: model.safetensors, checkpoints/best.pt or last.pt")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")


def run(args: argparse.Namespace) -> int:
    from resreg.config import validate_config
    from resreg.engine.evaluate import evaluate_config
    from resreg.plugins import get_registry

    registry = get_registry()
    config, model, weights = _config_and_weights(args)
    figures = evaluate_config(validate_config(config, args.source, registry), registry, model=model, weights=weights)
    if args.json:
        print(json.dumps(figures))
    else:
        width = max(map(len, figures), default=0)  # an ensemble's member figures have the longest names
        for key, value in figures.items():
            print(f"{key:<{width}}  {100 * value:.2f}%" if key.endswith("error") else f"{key:<{width}}  {value:.4f}")
    return 0


def _config_and_weights(args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any]:
    """The config to evaluate with, and the weights: a model that carries them (a run's final model, a
    weights file), or what fills the config's model (a checkpoint's model state, --weights)."""
    from resreg.cli.run_paths import check_not_a_run_path, check_run_has_weights
    from resreg.config import load_config
    from resreg.config.loader import apply_overrides, resolve_interpolations
    from resreg.engine import checkpoint, rundir
    from resreg.loading.names import parse_source
    from resreg.models import load_model

    path = Path(args.source)
    run_dir = (path / RUN_CONFIG_FILE).is_file()
    saved_model = path.suffix == ".safetensors" or path.is_dir() or parse_source(args.source).hub_ref is not None
    # Options that would otherwise be ignored without a word: each goes with one kind of source.
    if args.weights is not None and (run_dir or saved_model):
        among = ": --checkpoint best or last chooses among a run's" if run_dir else ""
        raise ConfigError(f"--weights fills the model of a config; {args.source} brings its own weights{among}")
    model_overrides = [o for o in args.overrides if o.split("=", 1)[0].split(".", 1)[0] == "model"]
    if model_overrides and (run_dir or saved_model):
        raise ConfigError(
            f"{model_overrides[0]}: {args.source} is evaluated as it was trained, so a model override would not apply; "
            "evaluate a config's model instead (resreg eval CONFIG model.KEY=VALUE --weights WEIGHTS)"
        )
    if args.checkpoint != "final" and not run_dir:
        raise ConfigError(
            f"--checkpoint {args.checkpoint} chooses among a run directory's weights; "
            f"{args.source} is not a run directory"
        )
    if run_dir:
        config = rundir.read_run_config(path, args.overrides)
        if args.checkpoint == "final":
            check_run_has_weights(path, "eval")
            return config, load_model(path / MODEL_FILE), None
        return config, None, checkpoint.load(checkpoint_file(path, args.checkpoint))
    if saved_model:
        config = resolve_interpolations(apply_overrides({}, args.overrides), args.source)
        return config, load_model(args.source), None
    check_not_a_run_path(args.source, "eval")
    return load_config(args.source, args.overrides), None, args.weights
