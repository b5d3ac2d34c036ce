"""Built-in plugin: TensorBoard logging of training runs, as training-callback hooks.

Active for runs with `engine.tensorboard: true` when the tensorboard package is installed
(`pip install resreg[tensorboard]`); event files go to RUN_DIR/tb. Without the package the hooks
say so once and do nothing, so a config that asks for TensorBoard still trains.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import resreg

_writers: dict[str, Any] = {}  # run directory -> SummaryWriter


def _writer(run: Any) -> Any:
    if not (run.config.get("engine") or {}).get("tensorboard"):
        return None
    key = str(run.dir)
    if key not in _writers:
        if importlib.util.find_spec("tensorboard") is None:
            warnings.warn("engine.tensorboard is on but tensorboard is not installed: pip install tensorboard",
                          stacklevel=2)  # fmt: skip
            _writers[key] = None
        else:
            from torch.utils.tensorboard import SummaryWriter

            _writers[key] = SummaryWriter(log_dir=str(run.dir / "tb"))
    return _writers[key]


def _scalars(run: Any, metrics: dict[str, float]) -> None:
    writer = _writer(run)
    if writer is None:
        return
    for key, value in metrics.items():
        if key not in ("step", "epoch") and isinstance(value, (int, float)):
            writer.add_scalar(key, value, global_step=run.step)


@resreg.hookimpl
def resreg_step_end(run: Any, metrics: dict[str, float]) -> None:
    _scalars(run, metrics)


@resreg.hookimpl
def resreg_eval_end(run: Any, metrics: dict[str, float]) -> None:
    _scalars(run, metrics)


@resreg.hookimpl
def resreg_run_end(run: Any, metrics: dict[str, float]) -> None:
    writer = _writers.pop(str(run.dir), None)
    if writer is not None:
        writer.close()
