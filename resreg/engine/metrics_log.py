"""metrics.jsonl and metrics.csv of a run: one row per log window or evaluation.

Each row is appended to both files and flushed to the operating system (open, append, close: a run
has hundreds of rows, so this costs microseconds and leaves no file handle to manage). A killed
process loses nothing written; only a crash of the machine can lose the rows since the last `sync()`,
which the loop may call when it writes a checkpoint. Nothing is fsynced per row.

Resuming from a checkpoint at step S rewrites both files once, atomically, with the rows up to S
(those after S are trained again and logged again, so they are dropped, not duplicated); a line torn
by a crash mid-write is dropped too. The JSON lines are the record, every figure of a row (top-5 errors,
an ensemble's members); the CSV, for spreadsheets, has the fixed columns of `FIELDS`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from resreg.io import read_json_lines, write_text_atomic
from resreg.layout import METRICS_CSV_FILE, METRICS_FILE

#: the CSV's columns: its header is written with the first row, so they cannot follow the rows
FIELDS = (
    "step", "epoch", "train_loss", "train_error", "val_loss", "val_error", "val_top5_error", "test_loss",
    "test_error", "test_top5_error", "lr", "images_per_s",
)  # fmt: skip


class MetricsLog:
    """Rows appended to RUN_DIR/metrics.jsonl and RUN_DIR/metrics.csv.

    A new run (resume_step None) starts both files afresh at its first row; a resumed run keeps the
    rows up to `resume_step` and appends after them.
    """

    def __init__(self, run_dir: Path, *, resume_step: int | None = None) -> None:
        self.jsonl = run_dir / METRICS_FILE
        self.csv = run_dir / METRICS_CSV_FILE
        self._started = False  # False: the first row truncates whatever an earlier run left
        self.kept: list[dict[str, Any]] = []  # the rows a resumed run keeps, in order
        if resume_step is not None and self.jsonl.is_file():
            self.kept = [row for row in read_json_lines(self.jsonl) if row.get("step", 0) <= resume_step]
            write_text_atomic(self.jsonl, "".join(json.dumps(row) + "\n" for row in self.kept))
            write_text_atomic(self.csv, _csv_text(self.kept, header=True))
            self._started = True

    def append(self, row: dict[str, Any]) -> None:
        clean = {k: _plain(v) for k, v in row.items() if v is not None}
        mode = "a" if self._started else "w"
        with open(self.jsonl, mode, encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
        with open(self.csv, mode, encoding="utf-8", newline="") as f:
            f.write(_csv_text([clean], header=f.tell() == 0))
        self._started = True

    def sync(self) -> None:
        """Flush both files to the disk (fsync): call it with a checkpoint, so no row before it is lost."""
        for path in (self.jsonl, self.csv):
            if path.is_file():
                with open(path, "rb+") as f:
                    os.fsync(f.fileno())


def _csv_text(rows: list[dict[str, Any]], *, header: bool) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n", extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """JSON has no NaN: a non-finite float is written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
