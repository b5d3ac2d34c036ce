"""What a training hook receives as `run`: the part of resreg's run object that is public API.

`resreg.engine.loop.Run` satisfies this protocol; hooks (resreg/hookspecs.py) are typed with it, so a
plugin's callbacks type-check against what is promised, not against the engine's internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class RunInfo(Protocol):
    """A training run as hooks see it; read it, do not change it."""

    #: the run directory (metrics.jsonl, checkpoints, the final model.safetensors)
    dir: Path
    #: the resolved config, defaults included, as plain data
    config: dict[str, Any]
    #: the bare model being trained (not a DDP or compiled wrapper)
    model: torch.nn.Module
    #: optimizer steps done so far
    step: int
    #: optimizer steps the run will take in all
    total_steps: int
    #: optimizer steps per epoch of the training set
    steps_per_epoch: int
    #: the metrics of the latest log window or evaluation
    last_metrics: dict[str, float]
    #: a plugin's own state for this run (its writers, counters), under the plugin's name: it lives and
    #: ends with the run, so nothing leaks when a run ends without its `resreg_run_end` hook
    plugin_state: dict[str, Any]
