"""Stop signals: Ctrl-C, a kill, or SLURM's warning stop a run after its current step, with a checkpoint.

The handler only records the signal (and says at once that it was heard); the training loop looks at
it between steps, so a checkpoint is never written from inside a half-done step.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: Under DDP, how often (in steps) the ranks check whether one of them received a stop signal: a stop
#: waits at most this many steps (SLURM's warning comes 90 s ahead), and no step pays a host sync for it.
STOP_CHECK_EVERY = 8

#: The signals that stop a run after the current step, with a checkpoint: Ctrl-C, a kill, and
#: SLURM's warning before the time limit (sbatch --signal=USR1@90).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


@dataclass
class StopRequest:
    """The stop signal this process received; 0 while none has come."""

    signum: int = 0


@contextlib.contextmanager
def catch_stop_signals(request: StopRequest, say: Callable[[str], None] | None) -> Iterator[None]:
    """While inside, a stop signal sets `request.signum` and is acknowledged at once through `say` (None:
    silently, as on ranks other than 0); a second Ctrl-C aborts without waiting for the step."""

    def handle(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and request.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if request.signum:
            return
        request.signum = signum
        if say is None:
            return
        if signum == signal.SIGINT:
            message = "stopping after this step (Ctrl-C again to abort)"
        else:
            message = f"{signal.Signals(signum).name}: stopping after this step, with a checkpoint"
        try:
            say(message)
        except RuntimeError:  # the signal came while stderr was being written: a buffered write cannot nest
            os.write(2, f"\n{message}\n".encode())

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
