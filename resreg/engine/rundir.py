"""The run directory: where a run writes, and what it holds.

    runs/<name>/
      config.yaml          the resolved config (bases merged, overrides applied, presets expanded)
      metrics.jsonl/.csv   one row per log window and per evaluation
      checkpoints/         last.pt (every engine.checkpoint_every steps and at the end), best.pt
      model.safetensors    the final weights with their spec (resreg.weights.load_model reads it)

Every file is written atomically (resreg.io), by rank 0 only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from resreg.config import load_config
from resreg.errors import ConfigError
from resreg.io import write_text_atomic
from resreg.layout import RUN_CONFIG_FILE


def new_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """runs/<name>, or runs/<name>-2, -3, ... when that already holds a run (never overwrite one)."""
    candidate, n = root / name, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = root / f"{name}-{n}"
    return candidate


def run_name(config: dict[str, Any], source: str) -> str:
    """The config's `name:`, else the config file's name (cifar10/resnet20 -> cifar10-resnet20)."""
    if config.get("name"):
        return str(config["name"])
    stem = Path(source).with_suffix("").as_posix().removeprefix("configs/")
    return stem.replace("/", "-").lstrip(".-") or "run"


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    write_text_atomic(run_dir / RUN_CONFIG_FILE, text)


def read_run_config(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """The saved config of a run (for --resume and `resreg eval RUN_DIR`), with overrides applied."""
    path = run_dir / RUN_CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: not a run directory (no {RUN_CONFIG_FILE}); give the directory `resreg train` wrote"
        )
    return load_config(path, overrides)
