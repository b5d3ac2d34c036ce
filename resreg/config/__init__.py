"""Configs: YAML files with `base:` inheritance, dotlist overrides, and validation against the registry."""

from resreg.config.loader import find_config, list_shipped_configs, load_config, merge
from resreg.config.run_config import RunConfig
from resreg.config.validate import dump_config, validate_config

__all__ = [
    "RunConfig",
    "dump_config",
    "find_config",
    "list_shipped_configs",
    "load_config",
    "merge",
    "validate_config",
]
