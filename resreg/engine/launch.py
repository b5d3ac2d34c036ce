"""`resreg train --nproc N`: checks made once before the processes start, torchrun's launcher (its
elastic agent, in this process) and its outcome as one status.

Running torchrun's `run()` here rather than as a child process lets `resreg train` answer with the
workers' own exit status (0, 2 for a user error, 130 after Ctrl-C, RESUMABLE after SIGTERM or
SIGUSR1) instead of torchrun's 1 and its traceback. The workers live in their own sessions, so a
Ctrl-C at the terminal reaches the agent alone, which forwards it to each worker exactly once.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from resreg.errors import ConfigError

if TYPE_CHECKING:
    from resreg.config.run_config import RunConfig
    from resreg.registry import Registry

#: The exit status of a run stopped by SIGTERM or SIGUSR1 (SLURM's time limit, preemption) after
#: it saved its checkpoint: `resreg train --resume RUN_DIR` continues it (EX_TEMPFAIL of sysexits.h:
#: "try again later"). A requeue script requeues on this status.
RESUMABLE = 75
INTERRUPTED = 130  # Ctrl-C (SIGINT): also checkpointed, but the user asked to stop

#: What each way a run ends makes the process exit with.
STATUS = {"finished": 0, "SIGINT": INTERRUPTED, "SIGTERM": RESUMABLE, "SIGUSR1": RESUMABLE}


def check_before_spawning(config: RunConfig, nproc: int, registry: Registry) -> None:
    """What `--nproc N` checks once, before it starts N processes that would each report the same
    error: the recipe, the data set (it is loaded) and the batch's split over the processes. Warns
    when the processes outnumber the GPUs (or, without GPUs, the cores this process may use)."""
    import torch  # here, not at the top: a sweep imports this module's statuses without torch

    from resreg.engine import distributed, report
    from resreg.engine.assemble import build_data
    from resreg.machine import usable_cores

    recipe = config.require_recipe(registry)
    build_data(config, registry)
    if recipe.batch_size % nproc:
        raise ConfigError(f"train.batch_size={recipe.batch_size} (the global batch) must divide by --nproc {nproc}")
    device = distributed.pick_device(config.engine.device)
    if device.type == "cuda":
        have, what = torch.cuda.device_count(), "GPU(s)"
    else:
        have, what = usable_cores(), f"CPU core(s) and no GPU ({device.type})"
    if nproc > have:
        report.say(f"resreg train: warning: --nproc {nproc} starts {nproc} processes for {have} {what}: "
                   "they will compete for them and run slower than fewer processes would")  # fmt: skip


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run `python -m resreg ARGV` in `nproc` processes on this machine (torchrun --standalone)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from resreg.machine import usable_cores

    # Each process gets its share of the cores (torchrun would say it sets 1 and warn about it).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // nproc)))
    # The agent forwards these to the workers (SIGUSR1 too: SLURM's warning before the time limit).
    os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"] = "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the workers speak for themselves
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "resreg", *argv]))
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        code = failure.exitcode
        return code if code > 0 else 128 + abs(code)  # a worker killed by a signal: as a shell reports it
    except SignalException as exc:  # the agent was signalled and stopped the workers with the same signal
        return STATUS.get(signal.Signals(exc.sigval).name, 128 + exc.sigval)
    return 0
