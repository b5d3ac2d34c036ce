"""What a path given where a config belongs means when it points into a run directory instead.

`resreg train runs/quickstart`, `resreg eval runs/quickstart/checkpoints/last.pt` and `resreg eval
runs/quickstrt` are what a new user types; read as configs they fail with "config file not found" or a
UTF-8 decoding error. `check_not_a_run_path` says what the path is and what to type instead.
`check_run_has_weights` does the same for a run stopped before its end (Ctrl-C, a killed job), which
has checkpoints but not yet the final weights that eval, predict, export and push read.
"""

from __future__ import annotations

from pathlib import Path

from resreg.config import list_shipped_configs
from resreg.errors import ConfigError, did_you_mean
from resreg.layout import CHECKPOINTS_DIR, LAST_CHECKPOINT, MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file


def is_run_dir(path: Path) -> bool:
    return (path / RUN_CONFIG_FILE).is_file()


def check_not_a_run_path(source: str, command: str) -> None:
    """Raise a one-line `ConfigError` when `source`, given to `command` as a config, is a run directory
    (`train` takes configs), a training checkpoint, or, for commands that take run directories, a
    misspelt one (a missing path beside existing run directories)."""
    path = Path(source)
    if is_run_dir(path) and command == "train":
        raise ConfigError(
            f"{source} is a run directory, not a config: `resreg train --resume {source}` continues it; "
            f"a new run takes a config (this run's is {path / RUN_CONFIG_FILE})"
        )
    if path.is_file() and path.parent.name == CHECKPOINTS_DIR and is_run_dir(path.parent.parent):
        run_dir = path.parent.parent
        instead = f"train --resume {run_dir}" if command == "train" else f"eval {run_dir} --checkpoint {path.stem}"
        raise ConfigError(f"{source} is a training checkpoint, not a config: use its run directory: resreg {instead}")
    # A missing path beside run directories, for a command that takes them: a typo of one of them. A bare
    # name is left to the config loader, which suggests among the shipped configs.
    typo = command != "train" and not path.exists() and path.parent not in (Path(), Path("/"))
    if typo and path.parent.is_dir() and source.removesuffix(".yaml") not in list_shipped_configs():
        runs = sorted(str(p) for p in path.parent.iterdir() if is_run_dir(p))
        if runs:
            raise ConfigError(did_you_mean(str(path), runs, "run directory"))


def check_run_has_weights(source: str | Path, command: str) -> None:
    """Raise a one-line `ConfigError` when `source` is a run directory without its final weights yet (a run
    writes model.safetensors when it finishes): say how to finish it, or, for eval, to use its checkpoint."""
    path = Path(source)
    if not is_run_dir(path) or (path / MODEL_FILE).exists():
        return
    advice = f"`resreg train --resume {source}` finishes it"
    if command == "eval" and checkpoint_file(path, LAST_CHECKPOINT).is_file():
        advice += f", or `resreg eval {source} --checkpoint last` evaluates its last checkpoint"
    finished = f"{MODEL_FILE} is written when it finishes"
    raise ConfigError(f"{source}: the run has no final weights yet ({finished}): {advice}")
