"""The run directory: where a run writes, and what it holds.

    runs/<name>/
      config.yaml          the resolved config (bases merged, overrides applied, presets expanded)
      metrics.jsonl/.csv   one row per log window and per evaluation
      checkpoints/         last.pt (every engine.checkpoint_every steps and at the end), best.pt
      model.safetensors    the final weights with their spec (resreg.weights.load_model reads it)
      run.lock             while a run writes here (resreg.engine.run_lock)

Every file is written atomically (resreg.io), by rank 0 only, while it holds run.lock.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from resreg.config import load_config
from resreg.engine.run_lock import RunLock
from resreg.engine.snapshots import SNAPSHOT_DIR
from resreg.errors import ConfigError
from resreg.io import remove_leftover_temporaries, write_text_atomic
from resreg.layout import (
    CHECKPOINTS_DIR,
    CURVES_FILE,
    ENSEMBLE_CONFIG_FILE,
    METRICS_CSV_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PUSHES_FILE,
    RUN_CONFIG_FILE,
)

#: What `resreg train` writes in a run directory: a directory holding any of these holds a run.
RUN_FILES = (RUN_CONFIG_FILE, METRICS_FILE, METRICS_CSV_FILE, CHECKPOINTS_DIR, MODEL_FILE, ENSEMBLE_CONFIG_FILE,
             SNAPSHOT_DIR, CURVES_FILE, PUSHES_FILE)  # fmt: skip

#: The config keys a checkpoint was built for, which `--resume` keeps as they were: the model (its
#: weights would not load), the data and its augmentation (the images' shape, classes and
#: preprocessing) and the optimizer (its state). Any other key may change on --resume: train.length
#: (to continue a finished run), the lr and its schedule, the batch size, engine.* and eval.*.
FIXED_ON_RESUME = ("model", "data", "train.optimizer", "train.augment")


def new_run_dir(name: str, root: Path = Path("runs")) -> Path:
    """runs/<name>, or runs/<name>-2, -3, ... when that already holds a run (never overwrite one)."""
    return next(run for run in numbered_run_dirs(name, root) if not (run.exists() and any(run.iterdir())))


def numbered_run_dirs(name: str, root: Path = Path("runs")) -> Iterator[Path]:
    """runs/<name>, runs/<name>-2, -3, ...: the directories `new_run_dir` picks from, in its order (endless)."""
    yield root / name
    for n in itertools.count(2):
        yield root / f"{name}-{n}"


def run_name(config: dict[str, Any], source: str) -> str:
    """The config's `name:`, else the config file's name (cifar10/resnet20 -> cifar10-resnet20)."""
    if config.get("name"):
        return str(config["name"])
    stem = Path(source).with_suffix("").as_posix().removeprefix("configs/")
    return stem.replace("/", "-").lstrip(".-") or "run"


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
    write_text_atomic(run_dir / RUN_CONFIG_FILE, text)


def claim(run_dir: Path, *, resume: bool, overwrite: bool) -> RunLock:
    """Make this process (rank 0) the only writer of `run_dir`, for a run that `resume`s the run there
    or starts a new one (`overwrite` first removes a run it holds); the caller releases the lock."""
    lock = RunLock(run_dir).acquire()
    try:
        if not resume:
            check_new_run_dir(run_dir, overwrite=overwrite)
            for name in _run_files(run_dir):  # an old run, which --overwrite replaces
                path = run_dir / name
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        remove_leftover_temporaries(run_dir)  # of writes a kill interrupted; nobody else writes here now
    except BaseException:
        lock.release()
        raise
    return lock


def check_new_run_dir(run_dir: Path, *, overwrite: bool) -> None:
    """Refuse to start a new run in a directory that holds one, unless `overwrite`."""
    found = _run_files(run_dir)
    if found and not overwrite:
        raise ConfigError(
            f"--run-dir {run_dir} already holds a run ({', '.join(found)}): continue it with "
            f"resreg train --resume {run_dir}, replace it with --overwrite, or give another --run-dir"
        )


def _run_files(run_dir: Path) -> list[str]:
    return [name for name in RUN_FILES if (run_dir / name).exists()]


def read_run_config(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """The saved config of a run (for --resume and `resreg eval RUN_DIR`), with overrides applied."""
    path = run_dir / RUN_CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: not a run directory (no {RUN_CONFIG_FILE}); give the directory `resreg train` wrote"
        )
    return load_config(path, overrides)


def read_resume_config(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """The config a resumed run continues with: its saved config with `overrides`, which must leave
    the FIXED_ON_RESUME keys as they were (one line naming those that change)."""
    saved, config = read_run_config(run_dir, []), read_run_config(run_dir, overrides)
    changed = [key for fixed in FIXED_ON_RESUME for key in _differences(_get(saved, fixed), _get(config, fixed), fixed)]
    if changed:
        raise ConfigError(
            f"--resume {run_dir}: {', '.join(changed)} would change what the checkpoint was trained as "
            f"(the model, data, augmentation or optimizer); a new run is what you want: "
            f"resreg train {run_dir / RUN_CONFIG_FILE} {' '.join(overrides)} --run-dir NEW_DIR"
        )
    return config


def finished_step(run_dir: Path) -> int | None:
    """The step model.safetensors records when a run wrote it (the run finished there), else None.

    The header is read only to find that nothing is left to do; it never makes resreg do more."""
    import safetensors

    try:
        with safetensors.safe_open(str(run_dir / MODEL_FILE), framework="pt") as f:
            return int(json.loads((f.metadata() or {})["step"]))
    except Exception:  # no final model, or one that is unreadable or records no step: not finished
        return None


def _get(config: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        config = config.get(key) if isinstance(config, dict) else None
    return config


def _differences(a: Any, b: Any, where: str) -> Iterator[str]:
    """The dotted keys at which two configs differ (a whole subtree is one key when it is not a dict in both)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            yield from _differences(a.get(key), b.get(key), f"{where}.{key}")
    elif a != b:
        yield where
