"""Print a config fully resolved, defaults included: what a run saves as its config.yaml.

Bases merged, overrides applied, presets expanded, validated, and every default the recipe, the data
set and the engine and eval options would use written out.

resreg show cifar10/resnet20 train.lr=0.05 model.depths=[2,2,2]
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="a config file, or the name of a shipped config (resreg list configs)")
    parser.add_argument("overrides", nargs="*", default=[], help="KEY=VALUE dotlist overrides")


def run(args: argparse.Namespace) -> int:
    from resreg.cli.run_paths import check_not_a_run_path
    from resreg.config import dump_config, load_config, validate_config
    from resreg.plugins import get_registry

    check_not_a_run_path(args.config, "show")
    config = validate_config(load_config(args.config, args.overrides), args.config, get_registry())
    print(dump_config(config), end="")
    return 0
