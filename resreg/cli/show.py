"""Print a config fully resolved: bases merged, overrides applied, presets expanded, validated.

resreg show cifar10/resnet20 train.lr=0.05 model.depths=[2,2,2]
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="a config file, or the name of a shipped config (resreg list configs)")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE dotlist overrides")


def run(args: argparse.Namespace) -> int:
    import yaml

    from resreg.config import load_config, validate_config
    from resreg.plugins import get_registry

    config = validate_config(load_config(args.config, args.overrides), args.config, get_registry())
    print(yaml.safe_dump(config, sort_keys=False, default_flow_style=None), end="")
    return 0
