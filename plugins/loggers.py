"""Built-in plugin: TensorBoard logging of training runs, as training-callback hooks.

Active for runs with `engine.tensorboard: true` when the tensorboard package is installed
(`pip install resreg[tensorboard]`); event files go to RUN_DIR/tb. Without the package the hooks
say so once and do nothing, so a config that asks for TensorBoard still trains. The writer is kept
in the run's `plugin_state`, so it ends with the run even when `resreg_run_end` never comes.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import resreg
from resreg.run_info import RunInfo

_STATE_KEY = "tensorboard"  # this plugin's entry in run.plugin_state: its SummaryWriter, or None


def _writer(run: RunInfo) -> Any:
    if not (run.config.get("engine") or {}).get("tensorboard"):
        return None
    if _STATE_KEY not in run.plugin_state:
        if importlib.util.find_spec("tensorboard") is None:
            warnings.warn("engine.tensorboard is on but tensorboard is not installed: pip install tensorboard",
                          stacklevel=2)  # fmt: skip
            run.plugin_state[_STATE_KEY] = None
        else:
            from torch.utils.tensorboard import SummaryWriter

            run.plugin_state[_STATE_KEY] = SummaryWriter(log_dir=str(run.dir / "tb"))
    return run.plugin_state[_STATE_KEY]


def _scalars(run: RunInfo, metrics: dict[str, float]) -> None:
    writer = _writer(run)
    if writer is None:
        return
    for key, value in metrics.items():
        if key not in ("step", "epoch") and isinstance(value, (int, float)):
            writer.add_scalar(key, value, global_step=run.step)


@resreg.hookimpl
def resreg_step_end(run: RunInfo, metrics: dict[str, float]) -> None:
    _scalars(run, metrics)


@resreg.hookimpl
def resreg_eval_end(run: RunInfo, metrics: dict[str, float]) -> None:
    _scalars(run, metrics)


@resreg.hookimpl
def resreg_run_end(run: RunInfo, metrics: dict[str, float]) -> None:
    writer = run.plugin_state.pop(_STATE_KEY, None)
    if writer is not None:
        writer.close()
