"""Checkpoints: everything a resumed run needs to take exactly the path an uninterrupted one takes.

A checkpoint holds plain tensors, numbers, strings, lists and dicts only, so
`torch.load(path, weights_only=True)` reads it (no pickled code), and it is written atomically: a
kill -9 during the write leaves the previous checkpoint intact. Besides the model and optimizer it
keeps the schedule's state (warm-up, plateau), the gradient scaler, the EMA weights, the random
number generators (dropout, stochastic depth) and the partial metrics window.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from resreg.errors import ResregError
from resreg.io import atomic_path
from resreg.layout import BEST_CHECKPOINT, CHECKPOINTS_DIR, LAST_CHECKPOINT
from resreg.weights.strict import load_state_dict_strict

LAST, BEST = LAST_CHECKPOINT, BEST_CHECKPOINT


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically."""
    # Through a Python file: a full disk then surfaces as an OSError naming ENOSPC, where torch's own
    # C++ writer says only "iostream error" (resreg.io turns it into one line naming the file).
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
    return path


def load(path: Path) -> Checkpoint:
    """Read a checkpoint (tensors and plain data only), on the CPU."""
    if not path.is_file():
        raise ResregError(f"no checkpoint at {path}: a run directory has {CHECKPOINTS_DIR}/{LAST} once one was saved")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    # torch's messages for what it cannot read weights-only advise retrying with weights_only=False,
    # which would run code of the file's choosing: resreg says what is wrong in its own words instead.
    except pickle.UnpicklingError:
        reason = "it holds objects other than tensors and plain data, and resreg never unpickles those"
    except Exception as exc:  # truncated or foreign file: say which one
        cause = str(exc).strip().split("\n", 1)[0].split(". ", 1)[0]  # its first sentence: advice follows
        reason = "not in PyTorch's zip format" if "weights_only" in str(exc) else f"{type(exc).__name__}: {cause}"
    else:
        return Checkpoint(path, contents)
    raise ResregError(f"{path}: not a readable resreg checkpoint ({reason})") from None


def restore_weights(module: torch.nn.Module, state: Checkpoint, part: str) -> None:
    """Load the checkpoint's `part` (`model`, `ema`) into `module`; weights that do not fit it (the run's
    config.yaml and its checkpoint disagree) are one line naming the file and the keys."""
    load_state_dict_strict(module, state[part], where=f"{state.path} ({part})")


class Checkpoint(dict[str, Any]):
    """A checkpoint's contents; a part it lacks is a one-line error naming the file, not a KeyError."""

    def __init__(self, path: Path, contents: Any) -> None:
        if not isinstance(contents, dict):
            raise ResregError(f"{path}: not a resreg checkpoint (it holds a {type(contents).__name__}, not a dict)")
        super().__init__(contents)
        self.path = path

    def __missing__(self, key: str) -> Any:
        raise ResregError(
            f"{self.path}: the checkpoint has no {key!r} (it has {', '.join(map(repr, self)) or 'nothing'}): "
            "not written by this version of resreg train; start a new run"
        )
