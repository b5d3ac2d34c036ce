"""Configs, run directories and saved models given where another of them belongs: what it is, what to type.

`resreg train runs/quickstart`, `resreg eval runs/quickstart/checkpoints/last.pt`, `resreg eval
runs/quickstrt` and `resreg train configs/cifar10` are what a new user types; read as configs they fail
with "config file not found" or a UTF-8 decoding error. `check_not_a_run_path` says what the path is
and what to type instead.
`check_run_has_weights` does the same for a run stopped before its end (Ctrl-C, a killed job), which
has checkpoints but not yet the final weights that eval, predict, export and push read, and
`check_names_saved_weights` for a config or preset name given to predict or export (`resreg predict
quickstart`), which has no weights at all.
"""

from __future__ import annotations

from pathlib import Path

from resreg.config.loader import list_shipped_configs, shipped_configs_root
from resreg.errors import ConfigError, did_you_mean
from resreg.layout import CHECKPOINTS_DIR, LAST_CHECKPOINT, MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file


def is_run_dir(path: Path) -> bool:
    return (path / RUN_CONFIG_FILE).is_file()


def check_not_a_run_path(source: str, command: str) -> None:
    """Raise a one-line `ConfigError` when `source`, given to `command` as a config, is a run directory
    (`train` takes configs), a training checkpoint, another directory (a folder of configs), or, for
    commands that take run directories, a misspelt one (a missing path beside existing run directories)."""
    path = Path(source)
    if is_run_dir(path):
        if command == "train":
            raise ConfigError(
                f"{source} is a run directory, not a config: `resreg train --resume {source}` continues it; "
                f"a new run takes a config (this run's is {path / RUN_CONFIG_FILE})"
            )
        raise ConfigError(f"{source} is a run directory, not a config: resreg {command} {path / RUN_CONFIG_FILE}")
    if path.is_file() and path.parent.name == CHECKPOINTS_DIR and is_run_dir(path.parent.parent):
        run_dir = path.parent.parent
        instead = {"train": f"train --resume {run_dir}", "eval": f"eval {run_dir} --checkpoint {path.stem}"}
        use = instead.get(command, f"{command} {run_dir / RUN_CONFIG_FILE}")
        raise ConfigError(f"{source} is a training checkpoint, not a config: use its run directory: resreg {use}")
    _check_not_a_folder(source)
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
    from resreg.engine.run_lock import is_held  # here: the engine imports torch

    training = is_held(path)
    advice = "wait for it" if training else f"`resreg train --resume {source}` finishes it"
    if command == "eval" and checkpoint_file(path, LAST_CHECKPOINT).is_file():
        advice += f", or `resreg eval {source} --checkpoint last` evaluates its last checkpoint"
    state = "is still training" if training else "has no final weights yet"
    raise ConfigError(f"{source}: the run {state} ({MODEL_FILE} is written when it finishes): {advice}")


def check_names_saved_weights(source: str, command: str) -> None:
    """Raise a one-line `ConfigError` when `source`, given to predict or export as a saved model, is the name of
    a shipped config or a model preset (`resreg predict quickstart`): name the run that has its weights, or
    the command that writes them."""
    from resreg.config import load_config
    from resreg.engine.rundir import run_name
    from resreg.plugins import get_registry

    if Path(source).exists() or ":" in source:  # a file or folder, or hf-hub: / local-dir:
        return
    if source.removesuffix(".yaml") in list_shipped_configs():
        run = Path("runs") / run_name(load_config(source), source)
        trained = is_run_dir(run)
        where = f"its run has them: resreg {command} {run}" if trained else f"resreg train {source} writes {run}"
        raise ConfigError(f"{source} is a config, not a model with trained weights: {where}")
    if ("model", source) in get_registry():
        raise ConfigError(
            f"{source} is a model preset, not a model with trained weights: give a run directory, a .safetensors "
            "file or hf-hub:owner/name"
        )


def _check_not_a_folder(source: str) -> None:
    """A directory (or a folder of shipped configs, `cifar10`) where a config file belongs: name what it holds."""
    if Path(source).is_dir():
        configs = sorted(str(p) for p in Path(source).glob("*.yaml") if not p.name.startswith("_"))  # _x: parts
    elif (shipped_configs_root() / source).is_dir():
        prefix = source.rstrip("/") + "/"
        configs = [name for name in list_shipped_configs() if name.startswith(prefix)]
    else:
        return
    shown = ", ".join(configs[:8]) + (f", ... ({len(configs)})" if len(configs) > 8 else "")
    held = f"it holds {shown}" if configs else "it holds no .yaml file"
    raise ConfigError(
        f"{source} is a directory, not a config ({held}): give a config file, or a shipped config (resreg list configs)"
    )
