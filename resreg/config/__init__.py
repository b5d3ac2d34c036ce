"""Configs: YAML files with `base:` inheritance, dotlist overrides, and validation against the registry."""

from resreg.config.loader import find_config, list_shipped_configs, load_config, merge
from resreg.config.validate import validate_config

__all__ = ["find_config", "list_shipped_configs", "load_config", "merge", "validate_config"]
