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

from resreg.layout import MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a run directory, a weights file or hf-hub:owner/name, or a config")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE dotlist overrides (data.root=..., eval.scales=[...])")
    parser.add_argument("--weights", help="weights to load into the model of a config (a file or hf-hub:...)")
    parser.add_argument("--checkpoint", choices=("final", "best", "last"), default="final",
                        help="which weights of a run: model.safetensors, checkpoints/best.pt or last.pt")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")


def run(args: argparse.Namespace) -> int:
    import torch

    from resreg.config import validate_config
    from resreg.config.options import EngineOptions, EvalOptions
    from resreg.data.augment import AugmentOptions
    from resreg.engine.distributed import Dist, pick_device
    from resreg.engine.evaluate import evaluate
    from resreg.engine.precision import Precision
    from resreg.engine.run import build_data, build_recipe, make_eval_loaders
    from resreg.plugins import get_registry

    registry = get_registry()
    config, model = _config_and_model(args)
    config = validate_config(config, args.source, registry)
    recipe = build_recipe(config, registry) if config.get("train") is not None else None
    data = build_data(config, registry, recipe.data_args() if recipe else {})
    if model is None:
        from resreg.models import create_model

        model = create_model(config["model"], num_classes=data.num_classes, in_chans=data.in_chans)
        if args.weights:
            from resreg.weights import load_pretrained

            load_pretrained(model, args.weights)
    options = EngineOptions(**config.get("engine") or {})
    eval_options = EvalOptions(**config.get("eval") or {})
    info = Dist(0, 1, 0, pick_device(options.device))
    model.to(info.device)
    augment = AugmentOptions.of(recipe.augment) if recipe else _augment_of(model)
    precision = Precision(options.precision, info.device)
    figures: dict[str, float] = {}
    for split, loader in make_eval_loaders(data, augment, eval_options, info).items():
        with torch.inference_mode():
            result = evaluate(model, loader.batches(0), info, eval_options, autocast=precision.autocast())
        figures |= {f"{split}_{k}": v for k, v in result.items()}
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<16} {100 * value:.2f}%" if key.endswith("error") else f"{key:<16} {value:.4f}")
    return 0


def _config_and_model(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """The config to evaluate with, and the model when the source carries its weights."""
    from resreg.config import load_config
    from resreg.config.loader import apply_overrides, resolve_interpolations
    from resreg.engine import rundir
    from resreg.weights import load_model

    path = Path(args.source)
    if (path / RUN_CONFIG_FILE).is_file():  # a run directory
        config = rundir.read_run_config(path, args.overrides)
        if args.checkpoint == "final":
            return config, load_model(path / MODEL_FILE)
        return config, _from_checkpoint(config, checkpoint_file(path, args.checkpoint))
    if path.suffix == ".safetensors" or path.is_dir() or args.source.startswith("hf-hub:"):
        config = resolve_interpolations(apply_overrides({}, args.overrides), args.source)
        return config, load_model(args.source)
    return load_config(args.source, args.overrides), None


def _from_checkpoint(config: dict[str, Any], path: Path) -> Any:
    from resreg.engine import checkpoint
    from resreg.models import create_model

    state = checkpoint.load(path)["model"]
    model = create_model(config["model"])  # the run's saved spec already has its classes and channels
    model.load_state_dict(state)
    return model


def _augment_of(model: Any) -> Any:
    """No recipe: normalise as the model was trained, if its weights say (resreg.artifact), else per channel."""
    from resreg.artifact import Preprocessing
    from resreg.data.augment import AugmentOptions

    record = Preprocessing.of_model(model)
    return AugmentOptions(normalize="pixel" if record is not None and record.mean_image is not None else "channel")
