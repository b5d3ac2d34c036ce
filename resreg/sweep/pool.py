"""Runs trained on this machine: worker threads, each starting `resreg train` subprocesses on its device slot."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from resreg.errors import ConfigError
from resreg.sweep.attempt import add_wall_time, last_line, outcome, start
from resreg.sweep.plan import PlannedRun
from resreg.sweep.signals import handling


def device_slots(jobs: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES of each worker: every visible GPU `jobs` times, or `jobs` CPU workers (None).

    So `--jobs 3` on 2 GPUs keeps 6 runs in flight, 3 on each: small runs that leave a big GPU idle
    between their kernel launches share it. Round-robin over the GPUs, so a sweep with fewer runs
    than workers still spreads them over every GPU before doubling up on one.
    """
    import torch

    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give a positive number of runs per device")
    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",") if d.strip()][:count] if visible else []
    devices = devices or [str(i) for i in range(count)]
    return [d for _ in range(jobs) for d in devices] if devices else [None] * jobs


class Pool:
    """Workers (threads) that take runs from a queue and train each in a `resreg train` subprocess.

    A subprocess per run, not an in-process call: each run starts with a fresh CUDA context,
    allocator, cuDNN autotuner cache and RNG, so nothing one run leaves behind (fragmented memory,
    compile caches, a hung collective) reaches the next; an out-of-memory or a crash fails that run
    only; CUDA_VISIBLE_DEVICES must be set before CUDA starts, i.e. in a new process; and the run
    takes exactly the path `resreg train` takes. The cost, a second or two of start-up per run,
    is small next to a training run. SIGINT and SIGTERM are forwarded to the running trainings,
    which checkpoint and exit; no new run starts after one.
    """

    def __init__(self, slots: list[str | None], report: Callable[[str], None]) -> None:
        self.slots = slots
        self.report = report
        self.stop_signal = 0
        self._lock = threading.RLock()  # reentrant: a second signal may arrive while the first one's handler holds it
        self._active: set[subprocess.Popen] = set()

    def describe(self) -> str:
        """Where the runs train, for the sweep's first line: `2 at a time on GPU(s) 0`."""
        where = f"GPU(s) {','.join(sorted({s for s in self.slots if s}))}" if self.slots[0] else "the CPU"
        return f"{len(self.slots)} at a time on {where}"

    def run(self, runs: list[tuple[PlannedRun, str]]) -> dict[Path, str]:
        """Train `runs` ((run, state) pairs); returns each run's outcome: finished, interrupted or failed."""
        todo: queue.SimpleQueue[tuple[PlannedRun, str]] = queue.SimpleQueue()
        for item in runs:
            todo.put(item)
        outcomes: dict[Path, str] = {}
        workers = [threading.Thread(target=self._work, args=(slot, todo, outcomes, len(runs)), daemon=True)
                   for slot in self.slots]  # fmt: skip
        with handling((signal.SIGINT, signal.SIGTERM), self.interrupt):
            for worker in workers:
                worker.start()
            while any(w.is_alive() for w in workers):
                for worker in workers:
                    worker.join(0.2)  # short joins: the main thread must stay free to handle signals
        return outcomes

    def _work(self, slot: str | None, todo: queue.SimpleQueue, outcomes: dict[Path, str], total: int) -> None:
        while True:
            try:
                run, state = todo.get_nowait()
            except queue.Empty:
                return
            env = dict(os.environ) if slot is None else {**os.environ, "CUDA_VISIBLE_DEVICES": slot}
            run.dir.parent.mkdir(parents=True, exist_ok=True)
            command = run.command(state)
            with open(run.log, "a", encoding="utf-8") as log, self._lock:
                if self.stop_signal:
                    return
                process = start(command, log, env)  # in its own session: signals reach it through interrupt()
                self._active.add(process)
            where = f" on GPU {slot}" if slot is not None else ""
            self.report(f"{'resuming' if state == 'resume' else 'training'} {run.dir.name}{where}")
            began = time.perf_counter()
            code = process.wait()
            with self._lock:
                self._active.discard(process)
            add_wall_time(run.record, time.perf_counter() - began)
            result = outcome(run.dir, code)
            outcomes[run.dir] = result
            detail = f" (exit {code}: {last_line(run.log)}; see {run.log})" if result == "failed" else ""
            self.report(f"{run.dir.name}: {result}{detail} [{len(outcomes)}/{total}]")

    def interrupt(self, signum: int) -> None:
        with self._lock:
            self.stop_signal = signum
            for process in self._active:
                process.send_signal(signum)
