"""A probe plugin for tests that train in a subprocess: it records where each process started and
which steps it trained, and can stop its own process with a signal at a chosen step.

Put `probe_site(folder)` on the process's PYTHONPATH and set, in its environment:
- RESREG_PROBE_LOG: a file the probe appends JSON lines to: {"pid", "start"} when the run starts
  (the step it starts from: the checkpoint's step on a resume) and {"pid", "step"} after each
  log window (every engine.log_every steps).
- RESREG_PROBE_STOP_AT (optional) "STEP SIGNAL", e.g. "19 SIGTERM": after the window that ends at
  STEP, the process sends itself SIGNAL, which the loop acts on after the next step, STEP + 1.
"""

from __future__ import annotations

import json
from pathlib import Path

from plugin_site import write_plugin_site

PROBE = """
import json
import os
import signal

import resreg


def _record(**fields):
    with open(os.environ["RESREG_PROBE_LOG"], "a") as f:
        f.write(json.dumps({"pid": os.getpid(), **fields}) + "\\n")


@resreg.hookimpl
def resreg_run_start(run):
    _record(start=run.step)


@resreg.hookimpl
def resreg_step_end(run, metrics):
    _record(step=metrics["step"])
    step, name = (os.environ.get("RESREG_PROBE_STOP_AT") or "-1 SIGTERM").split()
    if metrics["step"] == int(step):
        os.kill(os.getpid(), getattr(signal, name))
"""


def probe_site(folder: Path) -> Path:
    """A folder holding the probe plugin as an installed distribution (written once): put it on PYTHONPATH."""
    if not (folder / "resreg_probe.py").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_plugin_site(folder, "probe", PROBE)
    return folder


def probed_processes(log: Path) -> list[dict[str, object]]:
    """Per process, in the order they ran: {"start": step it started from, "steps": the window ends it logged}."""
    processes: dict[int, dict[str, object]] = {}
    for record in map(json.loads, log.read_text().splitlines()):
        process = processes.setdefault(record["pid"], {"start": None, "steps": []})
        if "start" in record:
            process["start"] = record["start"]
        else:
            process["steps"].append(record["step"])
    return list(processes.values())
