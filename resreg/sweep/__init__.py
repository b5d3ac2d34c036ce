"""Sweeps: configs x override grid x seeds, each run trained by `resreg train`, then one results table.

    resreg sweep fashion_mnist/plain20 fashion_mnist/resnet20 --seeds 2 train.lr=0.1,0.05 train.length=5

The grid syntax is Hydra's multirun: `KEY=V1,V2` is an axis (commas inside [...], {...} or quotes
do not split, so `model.depths=[1,1,1],[2,2,2]` is two values), `KEY=V` applies to every run. A
*group* is one config at one grid point; it gets one row of the table, with the mean and spread
over its seeds (`engine.seed` = 0 .. N-1), under a label that names what tells it apart (labels.py):
`model.preset=resnet56` for `model={preset: resnet56, ...}`. Its run directories are named from the
config's name and the grid point as written, so they do not change when the grid does.

Layout (RUNS defaults to OUT/runs; sweeps that share RUNS share the runs they have in common):

    OUT/results.md, results.csv   the table
    OUT/curves.png                the first finished seed of every group (resreg.plot)
    OUT/curves/<group>.png        every seed of one group (named as its run directories)
    RUNS/<group>-seed<S>/         a run directory of `resreg train`
    RUNS/<group>-seed<S>.log      its output, every attempt appended
    RUNS/<group>-seed<S>.sweep.json   its wall time, summed over attempts

A run whose directory holds the final model is skipped; one with a checkpoint is resumed
(`resreg train --resume`); a directory holding a run of a different config is an error, never
silently reused. Each run is a `resreg train` subprocess of its own: on this machine through `Pool`
(--jobs per GPU), or as the jobs of a SLURM array through `SlurmPool` (submitit).

One concept per module: grammar (the override syntax), plan (runs and their state on disk), labels
(the groups' readable names), pool and slurm (where they train), attempt (one attempt's outcome and wall
time), cost, results and report.
"""

from resreg.sweep.cost import Cost, Costs
from resreg.sweep.grammar import SEED_KEY, grid_points, parse_overrides, split_values
from resreg.sweep.plan import PlannedRun, group_name, plan, state_of
from resreg.sweep.pool import Pool, device_slots
from resreg.sweep.report import estimate_table, write_results
from resreg.sweep.results import GroupResult, collect, final_errors

__all__ = [
    "SEED_KEY", "Cost", "Costs", "GroupResult", "PlannedRun", "Pool", "collect", "device_slots",
    "estimate_table", "final_errors", "grid_points", "group_name", "parse_overrides", "plan",
    "split_values", "state_of", "write_results",
]  # fmt: skip
