"""Show a model's parts with output shapes, parameters and MACs (multiply-adds), and the totals.

resreg summary resnet50
resreg summary configs/cifar10/resnet110.yaml --input-size 64 64
"""

from __future__ import annotations

import argparse

from resreg.cli.input_size import add_input_size_argument, parse_input_size
from resreg.errors import ConfigError, did_you_mean


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model preset (resreg list models) or a config file or name")
    parser.add_argument(
        "overrides", nargs="*", default=[], help="KEY=VALUE overrides of the model spec (depths=[2,2,2])"
    )
    add_input_size_argument(parser)


def run(args: argparse.Namespace) -> int:
    from resreg.cli.run_paths import check_not_a_run_path
    from resreg.config.loader import apply_overrides, find_config, list_shipped_configs, load_config
    from resreg.models import create_model
    from resreg.plugins import get_registry
    from resreg.summary import summarize

    registry = get_registry()
    overrides = [f"model.{o}" for o in args.overrides]  # they apply to the model section only
    if ("model", args.model) in registry:
        config = apply_overrides({"model": {"preset": args.model}}, overrides)
    else:
        check_not_a_run_path(args.model, "summary")
        try:
            find_config(args.model)
        except ConfigError:
            known = [*registry.names("model"), *list_shipped_configs()]
            raise ConfigError(did_you_mean(args.model, known, "model preset or config")) from None
        config = load_config(args.model, overrides)
    if not config.get("model"):
        raise ConfigError(f"{args.model}: the config has no model section")
    model = create_model(config["model"], registry=registry)
    in_chans, *saved_size = model.pretrained_cfg["input_size"]
    size = (in_chans, *(parse_input_size(args.input_size, in_chans) or saved_size))
    try:
        summary = summarize(model, size)
    except RuntimeError as exc:  # e.g. an image too small for the stem and pooling
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"--input-size {size}: the model cannot take this input: {first}") from None
    print(summary.table())
    return 0
