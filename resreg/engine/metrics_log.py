"""metrics.jsonl and metrics.csv of a run: one row per log window or evaluation.

Both files are rewritten whole and atomically at each row (a run has hundreds of rows, not
millions), so a kill -9 never leaves a torn line, and a resume simply drops the rows written after
the checkpoint it continues from.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from resreg.io import write_text_atomic

FIELDS = (
    "step", "epoch", "train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error", "lr",
    "images_per_s",
)  # fmt: skip


class MetricsLog:
    """The rows so far, mirrored to RUN_DIR/metrics.jsonl and RUN_DIR/metrics.csv."""

    def __init__(self, run_dir: Path, *, resume_step: int | None = None) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        self.csv = run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_step is not None and self.jsonl.is_file():
            rows = [json.loads(line) for line in self.jsonl.read_text(encoding="utf-8").splitlines() if line]
            self.rows = [r for r in rows if r.get("step", 0) <= resume_step]

    def append(self, row: dict[str, Any]) -> None:
        clean = {k: _plain(v) for k, v in row.items() if k in FIELDS and v is not None}
        self.rows.append(clean)
        write_text_atomic(self.jsonl, "".join(json.dumps(r) + "\n" for r in self.rows))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.csv, out.getvalue())


def _plain(value: Any) -> Any:
    """JSON has no NaN: a non-finite float is written as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
