"""Every extension point of resreg, in one place.

A plugin is a module (or object) with functions marked `@resreg.hookimpl` whose names are these
hooks; it is found through the `resreg` entry-point group. Hooks take keyword arguments only, and
a plugin may accept any subset of them. Example:

    import resreg

    @resreg.hookimpl
    def resreg_register(registry):
        registry.register("block", "se_bottleneck", SEBottleneck)

Training callbacks (`resreg_run_start` ... `resreg_run_end`) are called on rank 0 only; their
return values are ignored. `run` is the `resreg.engine` run object: `run.dir` (a Path), `run.config`
(the resolved config as a dict), `run.model`, `run.step` (optimizer steps done); its type is
`resreg.run_info.RunInfo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from resreg.registry import Registrar
    from resreg.run_info import RunInfo

PROJECT = "resreg"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def resreg_register(registry: Registrar) -> None:
    """Fill the registry: called once per plugin when resreg first needs the registry.

    `registry` registers on behalf of this plugin: call `registry.register(kind, name, obj)` for every
    stem, block, shortcut, head, attn, builder, model preset, recipe, dataset, combiner or weight
    converter the plugin provides (docs/plugins.md has the contract each kind keeps). An entry that may
    not have its name (a built-in has it, or another plugin registers it too) or that breaks its kind's
    contract is refused alone, with a warning; an exception here disables this plugin only (with a
    warning naming it), and what it registered is removed.
    """


@hookspec
def resreg_run_start(run: RunInfo) -> None:
    """A training run is about to take its first step (or its first step after a resume)."""


@hookspec
def resreg_step_end(run: RunInfo, metrics: dict[str, float]) -> None:
    """Called every `engine.log_every` optimizer steps with that window's averages.

    `metrics` holds at least `loss` and `lr`; calling it on every step would force a device sync per step.
    """


@hookspec
def resreg_eval_end(run: RunInfo, metrics: dict[str, float]) -> None:
    """An evaluation finished; `metrics` holds e.g. `val_loss`, `val_error`, `test_error`."""


@hookspec
def resreg_checkpoint_saved(run: RunInfo, path: Path) -> None:
    """A checkpoint was written (atomically) to `path`."""


@hookspec
def resreg_run_end(run: RunInfo, metrics: dict[str, float]) -> None:
    """A training run ended (finished, interrupted or stopped on a non-finite loss); final metrics."""
