"""Checkpoints: everything a resumed run needs to take exactly the path an uninterrupted one takes.

A checkpoint holds plain tensors, numbers, strings, lists and dicts only, so
`torch.load(path, weights_only=True)` reads it (no pickled code), and it is written atomically: a
kill -9 during the write leaves the previous checkpoint intact. Besides the model and optimizer it
keeps the schedule's state (warm-up, plateau), the gradient scaler, the EMA weights, the random
number generators (dropout, stochastic depth) and the partial metrics window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from resreg.errors import ResregError
from resreg.io import atomic_path
from resreg.layout import BEST_CHECKPOINT, CHECKPOINTS_DIR, LAST_CHECKPOINT

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
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain data only), on the CPU."""
    if not path.is_file():
        raise ResregError(f"no checkpoint at {path}: a run directory has {CHECKPOINTS_DIR}/{LAST} once one was saved")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or foreign file: say which one
        raise ResregError(f"{path}: not a readable resreg checkpoint ({type(exc).__name__}: {exc})") from None
