"""Train a model from a config: resreg train CONFIG [KEY=VALUE ...].

resreg train quickstart
resreg train cifar10/resnet110 train.batch_size=64 engine.precision=bf16
resreg train --resume runs/cifar10-resnet110          # continue from its last checkpoint
resreg train configs/resnet152.yaml --nproc 8         # DDP on one machine (torchrun)
torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 -m resreg train CONFIG --run-dir D
srun resreg train CONFIG --run-dir DIR                # one task per GPU, from SLURM's variables

Writes runs/<name>/ (config.yaml, metrics.jsonl/.csv, checkpoints/last.pt and best.pt,
model.safetensors). Ctrl-C, SIGTERM or SIGUSR1 (SLURM's warning) stops after the current step
with a checkpoint; the exit status is 0 finished, 2 a user error (config, data, out of memory, NaN
loss), 75 stopped by SIGTERM/SIGUSR1 (requeue and --resume), 130 stopped by Ctrl-C. A process
that torchrun restarts (--max-restarts) or SLURM requeues continues from its run's last checkpoint.

One process writes a run directory at a time (RUN_DIR/run.lock names it); --run-dir on a directory
that holds a run is refused unless --overwrite. --resume of a finished run does nothing unless a
longer train.length is given; overrides of model.*, data.*, train.optimizer and train.augment.* are
refused with --resume (resreg.engine.rundir.FIXED_ON_RESUME): they call for a new run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from resreg.errors import ConfigError
from resreg.io import check_writable_dir
from resreg.layout import LAST_CHECKPOINT, MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file

if TYPE_CHECKING:
    from resreg.config import RunConfig
    from resreg.registry import Registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="a config file or shipped config name (not with --resume)")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE dotlist overrides (train.lr=0.05)")
    parser.add_argument("--run-dir", type=Path, help="where to write the run (default: runs/<name>)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("--overwrite", action="store_true", help="replace the run --run-dir holds (default: refuse)")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine (DDP through torchrun)")


def run(args: argparse.Namespace) -> int:
    from resreg.cli.run_paths import check_not_a_run_path
    from resreg.config import load_config, validate_config
    from resreg.engine import rundir
    from resreg.plugins import get_plugins

    if args.resume is not None:
        if args.overwrite:
            raise ConfigError("--resume continues a run and --overwrite replaces it: give one of them")
        if args.config is not None and "=" not in args.config:
            raise ConfigError(
                f"--resume {args.resume} continues the run with its own config ({args.resume / RUN_CONFIG_FILE}): "
                f"drop {args.config!r}, or start a new run from it without --resume"
            )
        # `resreg train --resume DIR k=v` parses k=v as the config: it is an override.
        overrides = ([args.config] if args.config else []) + args.overrides
        source, run_dir = str(args.resume / RUN_CONFIG_FILE), args.resume
        config = rundir.read_resume_config(args.resume, overrides)
    elif args.config is None:
        raise ConfigError("give a config (resreg train quickstart) or --resume RUN_DIR")
    else:
        source, run_dir = args.config, args.run_dir
        check_not_a_run_path(args.config, "train")
        config = load_config(args.config, args.overrides)
    plugins = get_plugins()
    config = validate_config(config, source, plugins.registry)
    if run_dir is not None:  # a directory it cannot write to is found now, not after the data has loaded
        check_writable_dir(run_dir, "--resume" if args.resume is not None else "--run-dir")
    elif stopped := _stopped_runs(rundir.run_name(config.to_dict(), source)):
        print(f"resreg train: note: {stopped[-1]} holds a run stopped before its end: `resreg train --resume "
              f"{stopped[-1]}` continues it; this command starts a new run", file=sys.stderr)  # fmt: skip
    if args.nproc > 1:
        return _launch(args, config, source, run_dir, plugins.registry)
    from resreg.engine.launch import STATUS
    from resreg.engine.run import train

    resume = args.resume is not None or _restarted(run_dir)
    overwrite = args.overwrite or _started_again()  # a restart before the first checkpoint begins its run anew
    outcome = train(
        config,
        source=source,
        run_dir=run_dir,
        resume=resume,
        overwrite=overwrite,
        hook=plugins.hook,
        registry=plugins.registry,
    )
    return STATUS[outcome]


def _stopped_runs(name: str, root: Path = Path("runs")) -> list[Path]:
    """The runs of a config's earlier `resreg train` (runs/<name>, -2, ...) that stopped before their end (Ctrl-C, a
    killed job): no final weights, a last checkpoint, and no process training them now. Running the same command
    again after Ctrl-C starts runs/<name>-2; the user most likely meant to continue one of these."""
    from resreg.engine.run_lock import is_held
    from resreg.engine.rundir import numbered_run_dirs

    stopped = []
    for run in numbered_run_dirs(name, root):
        if not run.exists():
            break
        unfinished = not (run / MODEL_FILE).exists() and checkpoint_file(run, LAST_CHECKPOINT).is_file()
        if unfinished and not is_held(run):
            stopped.append(run)
    return stopped


def _started_again() -> bool:
    """A process torchrun restarted after a failure, or a requeued SLURM job."""
    counts = ("TORCHELASTIC_RESTART_COUNT", "SLURM_RESTART_COUNT")
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in counts)


def _restarted(run_dir: Path | None) -> bool:
    """A process started again (torchrun, SLURM) whose run has a checkpoint."""
    return _started_again() and run_dir is not None and checkpoint_file(run_dir, LAST_CHECKPOINT).is_file()


def _launch(args: argparse.Namespace, config: RunConfig, source: str, run_dir: Path | None, registry: Registry) -> int:
    """Check the config and the data here, once, then run this command in N processes under torchrun."""
    from resreg.engine import launch, rundir

    launch.check_before_spawning(config, args.nproc, registry)
    if run_dir is None:
        run_dir = rundir.new_run_dir(rundir.run_name(config.to_dict(), source))
    command = ["train"]
    if args.resume is not None:
        command += ["--resume", str(run_dir), *([args.config] if args.config else []), *args.overrides]
    else:
        rundir.check_new_run_dir(run_dir, overwrite=args.overwrite)  # once here, not in N processes
        command += [args.config, *args.overrides, "--run-dir", str(run_dir), *(["--overwrite"] * args.overwrite)]
    return launch.launch(args.nproc, command)
