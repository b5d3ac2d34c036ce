"""One attempt at a planned run, wherever it trains: its command's outcome, its last log line, its wall time."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from resreg.engine.launch import INTERRUPTED, RESUMABLE
from resreg.io import write_text_atomic
from resreg.layout import MODEL_FILE


def start(command: list[str], log: IO[str], env: dict[str, str]) -> subprocess.Popen:
    """Start `command` with its output appended to `log`, after a line saying when and what."""
    log.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
    log.flush()
    # Own session: a Ctrl-C at the terminal reaches the training once, through whoever forwards it.
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def outcome(run_dir: Path, code: int) -> str:
    """finished, interrupted (checkpointed: the next sweep resumes it) or failed, from `resreg train`'s exit status."""
    if code == 0 and (run_dir / MODEL_FILE).is_file():
        return "finished"
    # resreg train's statuses after Ctrl-C and SIGTERM/SIGUSR1 (checkpoint saved); 143: killed by a bare SIGTERM.
    return "interrupted" if code in (INTERRUPTED, RESUMABLE, 128 + signal.SIGTERM) else "failed"


def last_line(log: Path) -> str:
    """The last non-blank line of a run's log (what a failure report quotes), at most 300 characters."""
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def add_wall_time(record: Path, seconds: float) -> None:
    """Sum the wall time over attempts (an interrupted run resumed later counts both parts)."""
    state = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {"wall_s": 0.0, "attempts": 0}
    state = {"wall_s": state["wall_s"] + seconds, "attempts": state["attempts"] + 1}
    write_text_atomic(record, json.dumps(state) + "\n")
