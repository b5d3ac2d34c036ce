"""Train a model from a config: resreg train CONFIG [KEY=VALUE ...].

resreg train quickstart
resreg train cifar10/resnet110 train.batch_size=64 engine.precision=bf16
resreg train --resume runs/cifar10-resnet110          # continue from its last checkpoint
resreg train configs/resnet152.yaml --nproc 8         # DDP on one machine (torchrun)
torchrun --nnodes=2 --node-rank=0 --nproc-per-node=8 --rdzv-endpoint=HOST:29500 -m resreg train CONFIG --run-dir DIR

Writes runs/<name>/ (config.yaml, metrics.jsonl/.csv, checkpoints/last.pt and best.pt,
model.safetensors). SIGINT or SIGTERM saves a checkpoint and exits (130 / 143); a NaN loss stops
the run (exit 2) and keeps the last good checkpoint.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="a config file or shipped config name (not with --resume)")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE dotlist overrides (train.lr=0.05)")
    parser.add_argument("--run-dir", type=Path, help="where to write the run (default: runs/<name>)")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine (DDP through torchrun)")


def run(args: argparse.Namespace) -> int:
    from resreg.config import load_config, validate_config
    from resreg.engine import rundir
    from resreg.errors import ConfigError
    from resreg.plugins import get_plugins

    if args.resume is not None:
        # `resreg train --resume DIR k=v` parses k=v as the config: it is an override.
        overrides = ([args.config] if args.config else []) + args.overrides
        source, run_dir = str(args.resume / rundir.CONFIG), args.resume
        config = rundir.read_run_config(args.resume, overrides)
    elif args.config is None:
        raise ConfigError("give a config (resreg train quickstart) or --resume RUN_DIR")
    else:
        source, run_dir = args.config, args.run_dir
        config = load_config(args.config, args.overrides)
    plugins = get_plugins()
    config = validate_config(config, source, plugins.registry)
    if args.nproc > 1:
        return _launch(args, config, source, run_dir)
    from resreg.engine.run import train

    outcome = train(config, source=source, run_dir=run_dir, resume=args.resume is not None, hook=plugins.hook)
    return 0 if outcome == "finished" else 128 + signal.Signals[outcome].value  # 130 for SIGINT, 143 SIGTERM


def _launch(args: argparse.Namespace, config: dict, source: str, run_dir: Path | None) -> int:
    """Re-run this command under torchrun with N processes; the run directory is fixed first."""
    from resreg.engine import rundir

    if run_dir is None:
        run_dir = rundir.new_run_dir(rundir.run_name(config, source))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}"]
    command += ["-m", "resreg", "train"]
    if args.resume is not None:
        command += ["--resume", str(run_dir), *([args.config] if args.config else []), *args.overrides]
    else:
        command += [args.config, *args.overrides, "--run-dir", str(run_dir)]
    return subprocess.call(command)
