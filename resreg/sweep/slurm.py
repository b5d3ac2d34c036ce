"""Runs trained as the jobs of one SLURM array, through submitit (the library Hydra's SLURM launcher uses).

Each job runs `resreg train` as a subprocess, exactly as the local pool does, with its output in the
run's .log beside the run directory (a shared file system, as SLURM sweeps need anyway); the sweep
waits for the jobs and then writes the same table. The job forwards the signals it gets to the
training, which checkpoints and exits: scancel (SIGTERM) and SLURM's warning before the time limit
(submitit's USR2, sent `signal_delay_s` before it; forwarded as SIGUSR1, resreg train's "save and
exit resumable") leave a run that the next `resreg sweep` resumes.

Options are submitit's, named as hydra-submitit-launcher names them: its base keys (timeout_min,
cpus_per_task, gpus_per_node, tasks_per_node, mem_gb, nodes, name) as they are, every other key
(partition, qos, account, constraint, array_parallelism, additional_parameters, ...) is SLURM's.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from resreg.errors import ConfigError
from resreg.sweep.attempt import add_wall_time, last_line, outcome, start
from resreg.sweep.plan import PlannedRun
from resreg.sweep.signals import handling
from resreg.yaml_file import yaml_value

#: hydra-submitit-launcher's BaseQueueConf: the keys submitit takes without an executor's prefix
BASE_KEYS = frozenset({"timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes", "name"})
POLL_S = 2.0  # how often the sweep asks whether jobs ended (submitit caches sacct's answers for a few seconds)

#: the signals a job passes on to its training, and as what
_FORWARDED = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGUSR1: signal.SIGUSR1,
              signal.SIGUSR2: signal.SIGUSR1}  # fmt: skip


def executor_parameters(items: Sequence[str]) -> dict[str, Any]:
    """`key=value` items (values read as YAML) -> submitit's parameters: base keys as given, others `slurm_`."""
    parameters: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--executor-arg {item!r} is not KEY=VALUE (e.g. partition=gpu, timeout_min=120)")
        parameters[key if key in BASE_KEYS else f"slurm_{key}"] = yaml_value(value)
    return parameters


def train_in_job(command: list[str], log: Path, record: Path) -> int:
    """What each job of the array runs (on a compute node): one `resreg train`; returns its exit status."""
    log.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with open(log, "a", encoding="utf-8") as out:
        process = start(command, out, dict(os.environ))
        with handling(_FORWARDED, lambda signum: process.send_signal(_FORWARDED[signum])):
            code = process.wait()
    add_wall_time(record, time.perf_counter() - began)
    return code


class SlurmPool:
    """The runs of a sweep submitted as one job array; `run` waits for them, as the local Pool does.

    `cluster` is "slurm", or "local" for submitit's local executor (the same path on this machine:
    how the tests run it, and a way to try a sweep's SLURM options before queueing it).
    """

    def __init__(self, folder: Path, cluster: str, parameters: dict[str, Any], report: Callable[[str], None]) -> None:
        import submitit  # the `slurm` extra: only a SLURM sweep needs it

        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ConfigError("--executor slurm: sbatch is not on PATH; run the sweep where jobs are submitted "
                              "(a SLURM login node), or without --executor")  # fmt: skip
        self.executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
        try:
            self.executor.update_parameters(**parameters)
        except (ValueError, NameError, TypeError) as error:
            # submitit's message lists the valid names on its first line, then explains its prefixes
            raise ConfigError(f"--executor-arg: {str(error).splitlines()[0]}") from None
        self.cluster = cluster
        self.report = report
        self.stop_signal = 0
        self._jobs: list[Any] = []

    def describe(self) -> str:
        return f"as the jobs of a {self.cluster} array"

    def run(self, runs: list[tuple[PlannedRun, str]]) -> dict[Path, str]:
        """Submit `runs` ((run, state) pairs) as one array; returns each run's outcome once every job ended."""
        if not runs:
            return {}
        planned = [run for run, _ in runs]
        self._jobs = self.executor.map_array(train_in_job, [run.command(state) for run, state in runs],
                                             [run.log for run in planned], [run.record for run in planned])  # fmt: skip
        for run, job in zip(planned, self._jobs, strict=True):
            self.report(f"submitted {run.dir.name} as job {job.job_id}")
        outcomes: dict[Path, str] = {}
        pending = dict(zip(self._jobs, planned, strict=True))
        with handling((signal.SIGINT, signal.SIGTERM), self.interrupt):
            while pending:
                for job in [job for job in pending if job.done()]:
                    run = pending.pop(job)
                    code = self._exit_status(job)
                    # a job cancelled by a Ctrl-C before it started never ran: it was interrupted, not failed
                    result = "interrupted" if code == -1 and self.stop_signal else outcome(run.dir, code)
                    outcomes[run.dir] = result
                    detail = f" (exit {code}: {last_line(run.log)}; see {run.log})" if result == "failed" else ""
                    self.report(f"{run.dir.name}: {result}{detail} [{len(outcomes)}/{len(runs)}]")
                time.sleep(POLL_S if pending else 0)
        return outcomes

    @staticmethod
    def _exit_status(job: Any) -> int:
        """The training's exit status, or -1 where the job itself died (killed, out of memory, node failure)."""
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            return int(job.result())
        except (FailedJobError, UncompletedJobError):  # the job ended without train_in_job's answer
            return -1

    def interrupt(self, signum: int) -> None:
        """Cancel every job: each forwards the signal to its training, which checkpoints and exits."""
        self.stop_signal = signum
        for job in self._jobs:
            job.cancel(check=False)
