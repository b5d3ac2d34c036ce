"""The metrics log appends rows (no rewrite, no fsync per row) and a resume leaves a log without dropped
or duplicated rows: on its own, and through a real training run resumed from its checkpoint."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest

from resreg.engine.metrics_log import FIELDS, MetricsLog
from resreg.io import read_json_lines


def jsonl_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def csv_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == FIELDS
        return [{k: v for k, v in row.items() if v != ""} for row in reader]


def window(step: int) -> dict:
    return {"step": step, "epoch": step / 100, "train_loss": 1.0 / step, "train_error": 0.5, "lr": 0.1}


def test_rows_are_appended_in_place_without_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    log = MetricsLog(tmp_path)
    log.append(window(10))
    inode = (tmp_path / "metrics.jsonl").stat().st_ino, (tmp_path / "metrics.csv").stat().st_ino
    for step in range(20, 210, 10):
        log.append(window(step))
    # The same files, grown: an atomic rewrite per row would have replaced them (new inodes) and fsynced.
    assert ((tmp_path / "metrics.jsonl").stat().st_ino, (tmp_path / "metrics.csv").stat().st_ino) == inode
    assert fsyncs == []
    assert [r["step"] for r in jsonl_rows(tmp_path)] == list(range(10, 210, 10))
    rows = csv_rows(tmp_path)
    assert [int(r["step"]) for r in rows] == list(range(10, 210, 10))  # one header, then the rows
    assert float(rows[0]["train_loss"]) == pytest.approx(0.1)
    log.sync()
    assert len(fsyncs) == 2  # on request: both files


def test_non_finite_values_and_figures_beyond_the_csv_columns(tmp_path: Path) -> None:
    """JSON has no NaN (null instead); the JSON lines keep every figure (top-5, an ensemble's members), the
    CSV its fixed columns, top-5 among them."""
    log = MetricsLog(tmp_path)
    log.append({"step": 1, "train_loss": math.nan, "lr": math.inf, "test_error": 0.25, "test_top5_error": 0.05,
                "test_member0_error": 0.3, "epoch": None})  # fmt: skip
    assert jsonl_rows(tmp_path) == [{"step": 1, "train_loss": None, "lr": None, "test_error": 0.25,
                                     "test_top5_error": 0.05, "test_member0_error": 0.3}]  # fmt: skip
    assert csv_rows(tmp_path) == [{"step": "1", "test_error": "0.25", "test_top5_error": "0.05"}]


def test_a_new_run_starts_the_files_afresh(tmp_path: Path) -> None:
    old = MetricsLog(tmp_path)
    for step in (10, 20, 30):
        old.append(window(step))
    new = MetricsLog(tmp_path)
    assert len(jsonl_rows(tmp_path)) == 3  # untouched until the new run writes its first row
    new.append(window(5))
    assert [r["step"] for r in jsonl_rows(tmp_path)] == [5]
    assert [r["step"] for r in csv_rows(tmp_path)] == ["5"]


def test_resume_drops_the_rows_after_the_checkpoint_and_a_torn_line(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path)
    for step in (10, 20):
        log.append(window(step))
    log.append({"step": 20, "epoch": 0.2, "test_error": 0.3})  # an evaluation at the checkpoint's step
    log.append(window(30))  # after the checkpoint at step 20: trained again after the resume
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 40, "train_lo')  # killed mid-write
    resumed = MetricsLog(tmp_path, resume_step=20)
    assert [r["step"] for r in jsonl_rows(tmp_path)] == [10, 20, 20]  # at once: a stop before any row leaves it right
    resumed.append(window(30))
    resumed.append(window(40))
    expected = [window(10), window(20), {"step": 20, "epoch": 0.2, "test_error": 0.3}, window(30), window(40)]
    assert jsonl_rows(tmp_path) == expected
    assert [(r["step"], r.get("test_error")) for r in csv_rows(tmp_path)] == [
        ("10", None), ("20", None), ("20", "0.3"), ("30", None), ("40", None)
    ]  # fmt: skip


def test_every_reader_of_a_run_keeps_the_rows_before_a_torn_line(tmp_path: Path) -> None:
    """A run killed mid-write leaves a torn last line: the card, the plot and the sweep read the rows before it."""
    from resreg.hub.card import final_metrics
    from resreg.plot import read_curves
    from resreg.sweep import final_errors

    log = MetricsLog(tmp_path)
    log.append(window(1))
    log.append({"step": 2, "epoch": 0.02, "test_loss": 1.5, "test_error": 0.25})
    with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 3, "train_lo')  # the kill came here
    assert final_metrics(read_json_lines(tmp_path / "metrics.jsonl")) == {
        "test_error": 0.25, "test_loss": 1.5, "train_error": 0.5, "train_loss": 1.0
    }  # fmt: skip
    assert final_errors(tmp_path) == {"train_error": 0.5, "test_error": 0.25}
    curves = read_curves(tmp_path)
    assert curves.train and curves.held_out_name == "test_error"


def test_resume_without_a_log_starts_one(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, resume_step=50)
    log.append(window(60))
    assert [r["step"] for r in jsonl_rows(tmp_path)] == [60]
    assert [r["step"] for r in csv_rows(tmp_path)] == ["60"]


@pytest.mark.slow  # two short trainings, and the engine's imports
def test_a_resumed_training_run_logs_each_row_once(tmp_path: Path) -> None:
    """A real run to step 40, then its checkpoint at step 20 restored (as after a kill at step 40) and
    resumed: the log equals the uninterrupted run's, row for row (throughput aside)."""
    from resreg.config import validate_config
    from resreg.engine.run import train
    from resreg.plugins import get_registry

    config = {
        "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B"},
        "data": {"type": "synthetic", "num_images": 64, "image_size": 8, "num_classes": 3},
        "train": {"preset": "fast", "unit": "step", "length": 40, "batch_size": 16, "eval_every": 20,
                  "schedule": {"warmup": 0}},
        "engine": {"deterministic": True, "threads": 1, "log_every": 10, "checkpoint_every": 20, "progress": "none"},
        "eval": {"splits": ["test"], "batch_size": 16},
    }  # fmt: skip
    config = validate_config(config, "test", get_registry())

    def without_speed(run_dir: Path) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "images_per_s"} for row in jsonl_rows(run_dir)]

    run_dir = tmp_path / "run"
    copy = {}

    class KeepCheckpointAt20:  # training callbacks: keep the checkpoint a kill at step 40 would leave
        def resreg_checkpoint_saved(self, run, path):
            if run.step == 20 and path.name == "last.pt":
                copy["last"] = path.read_bytes()

        def __getattr__(self, name):  # the other callbacks
            return lambda **kwargs: None

    train(config, source="test", registry=get_registry(), run_dir=run_dir, hook=KeepCheckpointAt20())
    whole = without_speed(run_dir)
    assert [r["step"] for r in whole] == [10, 20, 20, 30, 40, 40]  # windows, and evaluations at 20 and 40
    (run_dir / "checkpoints" / "last.pt").write_bytes(copy["last"])
    (run_dir / "model.safetensors").unlink()
    train(config, source="test", registry=get_registry(), run_dir=run_dir, resume=True)
    assert without_speed(run_dir) == whole
    assert [r["step"] for r in csv_rows(run_dir)] == ["10", "20", "20", "30", "40", "40"]


@pytest.mark.slow  # a short training, and the engine's imports
def test_each_checkpoint_first_syncs_the_rows_logged_so_far(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are appended without fsync; a checkpoint fsyncs the log first, so the rows a resume keeps are on disk."""
    from resreg.config import validate_config
    from resreg.engine.run import train
    from resreg.plugins import get_registry

    synced_rows: list[int] = []  # rows in metrics.jsonl at each sync
    real_sync = MetricsLog.sync

    def recording_sync(self: MetricsLog) -> None:
        synced_rows.append(len(jsonl_rows(self.jsonl.parent)))
        real_sync(self)

    monkeypatch.setattr(MetricsLog, "sync", recording_sync)
    saved_after: list[tuple[int, list[int]]] = []

    class RecordCheckpoints:
        def resreg_checkpoint_saved(self, run, path):
            saved_after.append((len(jsonl_rows(run.dir)), list(synced_rows)))

        def __getattr__(self, name):
            return lambda **kwargs: None

    config = {
        "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B"},
        "data": {"type": "synthetic", "num_images": 64, "image_size": 8, "num_classes": 3},
        "train": {"preset": "fast", "unit": "step", "length": 20, "batch_size": 16, "eval_every": 20,
                  "schedule": {"warmup": 0}},
        "engine": {"threads": 1, "log_every": 5, "checkpoint_every": 10, "progress": "none"},
        "eval": {"splits": ["test"], "batch_size": 16},
    }  # fmt: skip
    train(validate_config(config, "test", get_registry()), source="test", registry=get_registry(),
          run_dir=tmp_path / "run",
          hook=RecordCheckpoints())  # fmt: skip
    assert saved_after, "no checkpoint was saved"
    for rows_at_save, syncs_before in saved_after:
        assert syncs_before and syncs_before[-1] == rows_at_save  # every row logged so far was synced first
