"""The TensorBoard logger plugin (resreg_plugins.loggers) keeps its state on the run it logs, not in the process."""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from resreg.plugins import get_plugins
from resreg.run_info import RunInfo


@dataclasses.dataclass
class FakeRun:
    """The public part of a run (resreg.run_info.RunInfo), as the training hooks receive it."""

    dir: Path
    config: dict[str, Any]
    model: torch.nn.Module = dataclasses.field(default_factory=lambda: torch.nn.Linear(1, 1))
    step: int = 1
    total_steps: int = 2
    steps_per_epoch: int = 1
    last_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    plugin_state: dict[str, Any] = dataclasses.field(default_factory=dict)


def test_the_fake_run_is_what_hooks_receive():
    assert set(RunInfo.__annotations__) == {f.name for f in dataclasses.fields(FakeRun)}


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="checks the path without tensorboard")
def test_each_run_keeps_its_own_logger_state_and_ends_it(tmp_path):
    hook = get_plugins().hook
    runs = [FakeRun(tmp_path / name, {"engine": {"tensorboard": True}}) for name in ("a", "b")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for run in runs + runs:  # twice each: the missing package is said once per run
            hook.resreg_step_end(run=run, metrics={"loss": 1.0})
    assert [str(w.message) for w in caught] == [
        "engine.tensorboard is on but tensorboard is not installed: pip install tensorboard"
    ] * 2
    assert all(run.plugin_state == {"tensorboard": None} for run in runs)
    hook.resreg_run_end(run=runs[0], metrics={})
    assert runs[0].plugin_state == {} and runs[1].plugin_state == {"tensorboard": None}
    off = FakeRun(tmp_path / "c", {"engine": {"tensorboard": False}})
    hook.resreg_step_end(run=off, metrics={"loss": 1.0})
    assert off.plugin_state == {}
