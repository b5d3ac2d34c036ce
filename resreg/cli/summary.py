"""Show a model's parts with output shapes, parameters and MACs (multiply-adds), and the totals.

resreg summary resnet50
resreg summary configs/cifar10/resnet110.yaml --input-size 3,32,32
"""

from __future__ import annotations

import argparse

from resreg.errors import ConfigError, did_you_mean


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model preset (resreg list models) or a config file or name")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of the model spec (depths=[2,2,2])")
    parser.add_argument("--input-size", help="C,H,W of one input image (default: the model's own)")


def parse_input_size(text: str) -> tuple[int, ...]:
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise ConfigError(f"--input-size: expected C,H,W with positive integers (3,224,224), got {text!r}")
    return size


def run(args: argparse.Namespace) -> int:
    from resreg.config.loader import apply_overrides, find_config, list_shipped_configs, load_config
    from resreg.models import create_model
    from resreg.plugins import get_registry
    from resreg.summary import summarize

    registry = get_registry()
    overrides = [f"model.{o}" for o in args.overrides]  # they apply to the model section only
    if ("model", args.model) in registry:
        config = apply_overrides({"model": {"preset": args.model}}, overrides)
    else:
        try:
            find_config(args.model)
        except ConfigError:
            known = [*registry.names("model"), *list_shipped_configs()]
            raise ConfigError(did_you_mean(args.model, known, "model preset or config")) from None
        config = load_config(args.model, overrides)
    if not config.get("model"):
        raise ConfigError(f"{args.model}: the config has no model section")
    model = create_model(config["model"], registry=registry)
    size = parse_input_size(args.input_size) if args.input_size else tuple(model.pretrained_cfg["input_size"])
    in_chans = model.pretrained_cfg["input_size"][0]
    if size[0] != in_chans:
        raise ConfigError(
            f"--input-size: the model takes {in_chans} channels, got {size[0]}; add the override in_chans={size[0]}"
        )
    try:
        summary = summarize(model, size)
    except RuntimeError as exc:  # e.g. an image too small for the stem and pooling
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"--input-size {size}: the model cannot take this input: {first}") from None
    print(summary.table())
    return 0
