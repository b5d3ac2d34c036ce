"""Snapshot ensembles (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free").

With `train.snapshots: M`, the lr follows M cosine cycles (resreg.schedule) and the model
is saved at the end of each as `snapshots/snapshot<k>.safetensors`. After every snapshot the run
directory gets `ensemble.yaml`, a runnable config whose model is the ensemble of the snapshots so
far, so `resreg eval RUN_DIR/ensemble.yaml` scores each snapshot and the ensemble in one pass. It names
the snapshots relative to itself (`${config_dir}/snapshots/snapshot1.safetensors`), so the run directory
can move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from resreg.config.loader import CONFIG_DIR
from resreg.io import write_text_atomic
from resreg.layout import ENSEMBLE_CONFIG_FILE
from resreg.weights import save_model

SNAPSHOT_DIR = "snapshots"


def save_snapshot(run_dir: Path, model: Any, index: int, step: int) -> Path:
    """Write snapshot `index` (1-based) of the run's model; return its path."""
    return save_model(model, run_dir / SNAPSHOT_DIR / f"snapshot{index}.safetensors", metadata={"step": step})


def write_ensemble_config(run_dir: Path, config: dict[str, Any]) -> Path:
    """Write ensemble.yaml: the run's data, train, eval and engine sections, the snapshots so far as members."""
    members = sorted((run_dir / SNAPSHOT_DIR).glob("snapshot*.safetensors"), key=lambda p: int(p.stem[8:]))
    # Relative to the file (${config_dir}, see resreg.config.loader): it evaluates from any directory, and
    # still does after the run directory is moved or copied elsewhere.
    paths = [f"{CONFIG_DIR}/{p.relative_to(run_dir).as_posix()}" for p in members]
    ensemble = {
        "name": f"{config.get('name', run_dir.name)}-snapshots",
        "model": {"type": "ensemble", "combiner": "mean_probs", "members": paths},
        # train: the recipe's augment section says how images were normalised (a per-pixel mean image
        # for the CIFAR recipes); without it, evaluation would normalise per channel and score nonsense.
        **{k: config[k] for k in ("data", "train", "eval", "engine") if config.get(k) is not None},
    }
    path = run_dir / ENSEMBLE_CONFIG_FILE
    header = "# A snapshot ensemble written by resreg train: resreg eval this file\n"
    write_text_atomic(path, header + yaml.safe_dump(ensemble, sort_keys=False))
    return path
