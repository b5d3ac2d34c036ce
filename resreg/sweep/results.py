"""The results of a sweep as its run directories hold them now: one GroupResult per group, over its seeds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from resreg.io import read_json_lines
from resreg.layout import METRICS_FILE, MODEL_FILE
from resreg.sweep.cost import Cost, Costs
from resreg.sweep.plan import PlannedRun


def final_errors(run_dir: Path) -> dict[str, float]:
    """The last train_error (its last log window) and the last test_error (else val_error) of a run."""
    out: dict[str, float] = {}
    for row in read_json_lines(run_dir / METRICS_FILE):
        for key in ("train_error", "test_error", "val_error"):
            if isinstance(row.get(key), (int, float)):
                out[key] = float(row[key])
    if "test_error" not in out and "val_error" in out:
        out["test_error"] = out["val_error"]
    return out


@dataclass
class GroupResult:
    group: str
    label: str
    runs: list[PlannedRun]
    finished: list[PlannedRun]
    train_error: list[float]  # percent, one per finished seed
    test_error: list[float]
    wall_s: list[float]
    cost: Cost


def collect(runs: list[PlannedRun], costs: Costs) -> list[GroupResult]:
    """One result per group, in plan order, from the run directories as they are now."""

    results: dict[str, GroupResult] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        if run.group not in results:
            results[run.group] = GroupResult(run.group, run.label, [], [], [], [], [], costs(run.config))
        result = results[run.group]
        result.runs.append(run)
        if not (run.dir / MODEL_FILE).is_file():
            continue
        errors = final_errors(run.dir)
        result.finished.append(run)
        if "train_error" in errors:
            result.train_error.append(100 * errors["train_error"])
        if "test_error" in errors:
            result.test_error.append(100 * errors["test_error"])
        if run.record.is_file():
            result.wall_s.append(json.loads(run.record.read_text(encoding="utf-8"))["wall_s"])
    return list(results.values())
