"""Train configs x an override grid x seeds, and tabulate the results: resreg sweep CONFIG... [KEY=V1,V2 ...].

resreg sweep fashion_mnist/plain20 fashion_mnist/resnet20 --seeds 2 --out sweeps/depth
resreg sweep fashion_mnist/resnet32 --seeds 3 model.shortcut=A,B,C train.length=5
resreg sweep fashion_mnist/resnet56 train.lr=0.1,0.05 --dry-run      # the plan and its cost, no training

KEY=V1,V2 is a grid axis (Hydra's multirun syntax; commas inside [...] do not split), KEY=V applies
to every run. Each run is `resreg train` in a subprocess, one at a time on a CPU and --jobs per GPU
where there are GPUs, or as the jobs of a SLURM array (--executor slurm, through submitit):
resreg sweep fashion_mnist/resnet20 --seeds 5 --executor slurm --executor-arg partition=gpu
Runs already finished are skipped and interrupted ones resumed, so the same
command continues a sweep. Writes OUT/results.md and results.csv (mean and spread over seeds of the
final train and test error, parameters, MACs, wall time) and OUT/curves.png; see resreg.sweep.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from resreg.errors import ConfigError

if TYPE_CHECKING:  # imported when a sweep runs: `resreg --help` stays free of torch
    from resreg.sweep import Pool
    from resreg.sweep.slurm import SlurmPool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="config files or shipped config names")
    parser.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=V1,V2", help="grid axes and plain KEY=VALUE overrides"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds per grid point: engine.seed=0..N-1 (default 1)")
    parser.add_argument("--out", type=Path, help="the sweep folder (default: sweeps/<first config's name>)")
    parser.add_argument("--runs", type=Path, help="where the run directories go (default: OUT/runs); "
                        "sweeps sharing it share their common runs")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time per GPU, or on the CPU (default 1)")
    parser.add_argument("--executor", choices=("local", "slurm", "submitit_local"), default="local",
                        help="where runs train: subprocesses here (local, the default), the jobs of a SLURM array "
                        "(slurm, needs `pip install resreg[slurm]`), or submitit's local executor (submitit_local: "
                        "the SLURM path on this machine, to try --executor-arg)")  # fmt: skip
    parser.add_argument("--executor-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="a submitit option, named as hydra-submitit-launcher names them: partition, timeout_min, "
                        "gpus_per_node, cpus_per_task, mem_gb, qos, account, array_parallelism, ...")  # fmt: skip
    parser.add_argument("--title", help="the title of the table and the curves (default: the sweep folder's name)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and each run's cost; train nothing")
    parser.add_argument("--report-only", action="store_true",
                        help="write the table and curves of the runs finished so far; train nothing")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from resreg import sweep
    from resreg.cli.run_paths import check_not_a_run_path
    from resreg.plugins import get_plugins

    items = [*args.configs, *args.overrides]
    configs = [item for item in items if "=" not in item]
    plain, axes = sweep.parse_overrides([item for item in items if "=" in item])
    if not configs:
        raise ConfigError("give at least one config (resreg sweep fashion_mnist/resnet20 --seeds 2)")
    for config in configs:  # each is trained as `resreg train CONFIG` would be
        check_not_a_run_path(config, "train")
    out = args.out or Path("sweeps") / sweep.group_name(configs[0], plain, [])
    registry = get_plugins().registry
    runs = sweep.plan(configs, plain, axes, args.seeds, args.runs or out / "runs", registry)
    pool = _pool(args, out)
    states = {run.dir: sweep.state_of(run) for run in runs}  # a directory of another run fails here, before training
    costs = sweep.Costs(registry)
    title = args.title or out.resolve().name
    if args.dry_run:
        print(sweep.estimate_table(sweep.collect(runs, costs)))
        print(f"{len(runs)} runs ({sum(s != 'finished' for s in states.values())} to train), {pool.describe()}")
        return 0
    todo = [] if args.report_only else [(run, states[run.dir]) for run in runs if states[run.dir] != "finished"]
    finished = sum(s == "finished" for s in states.values())
    print(f"sweep {title}: {len(runs)} runs, {finished} already finished, {len(todo)} to train "
          f"({pool.describe()}); logs beside the runs in {runs[0].dir.parent}", flush=True)  # fmt: skip
    outcomes = pool.run(todo)
    written = sweep.write_results(sweep.collect(runs, costs), out, title)
    print((out / "results.md").read_text(encoding="utf-8"))
    more = f" and {len(written) - 3} more" if len(written) > 3 else ""
    print("wrote " + ", ".join(str(p) for p in written[:3]) + more)
    if pool.stop_signal:
        print("interrupted: run the same command again to resume", flush=True)
        return 128 + signal.Signals(pool.stop_signal).value
    failed = [d.name for d, outcome in outcomes.items() if outcome != "finished"]
    if args.report_only and finished < len(runs):
        print(f"{len(runs) - finished} of {len(runs)} runs have not finished; the table shows the others")
    if failed:
        print(f"{len(failed)} run(s) did not finish: {', '.join(failed)} (their .log files say why)")
        return 1
    return 0


def _pool(args: argparse.Namespace, out: Path) -> Pool | SlurmPool:
    """What trains the runs: a Pool of subprocesses here, or a SlurmPool submitting them through submitit."""
    from resreg import sweep

    def report(line: str) -> None:
        print(line, flush=True)

    if args.executor == "local":
        if args.executor_arg:
            raise ConfigError("--executor-arg is for --executor slurm or submitit_local; a local sweep takes --jobs")
        return sweep.Pool(sweep.device_slots(args.jobs), report)
    if args.jobs != 1:
        raise ConfigError(f"--jobs {args.jobs} is for local sweeps; a SLURM array runs one run per job "
                          "(--executor-arg array_parallelism=N caps how many run at once)")  # fmt: skip
    if importlib.util.find_spec("submitit") is None:
        raise ConfigError(f"--executor {args.executor} needs submitit: pip install 'resreg[slurm]'")
    from resreg.sweep.slurm import SlurmPool, executor_parameters

    cluster = "slurm" if args.executor == "slurm" else "local"
    parameters = {"name": f"resreg-sweep-{out.resolve().name}", **executor_parameters(args.executor_arg)}
    return SlurmPool(out / "submitit", cluster, parameters, report)
