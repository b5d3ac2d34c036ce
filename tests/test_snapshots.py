"""Snapshot ensembles for real: a short Fashion-MNIST run saves M snapshots and an ensemble that evaluates."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resreg.engine.schedule import Schedule

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def test_cosine_cycles_restart_the_lr():
    schedule = Schedule(lr=0.1, total_steps=30, decay="cosine", cycles=3)
    assert schedule.cycle_ends() == [10, 20, 30]
    for start in (0, 10, 20):
        assert schedule.lr_at(start) == pytest.approx(0.1)
        assert schedule.lr_at(start + 5) == pytest.approx(0.05)
        assert schedule.lr_at(start + 9) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.9)))


def resreg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resreg", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RESREG_DEBUG": "1"})  # fmt: skip


@pytest.mark.skipif(not FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
def test_a_snapshot_run_writes_m_snapshots_and_an_ensemble_that_evaluates(tmp_path):
    run = tmp_path / "run"
    overrides = ["data.limit=1536", "train.length=2", "train.batch_size=128", "train.warmup=0", "train.snapshots=3",
                 "train.eval_every=100", "engine.log_every=4", "eval.batch_size=2000"]  # fmt: skip
    result = resreg("train", "quickstart", *overrides, "--run-dir", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    snapshots = sorted((run / "snapshots").glob("*.safetensors"))
    assert [p.name for p in snapshots] == ["snapshot1.safetensors", "snapshot2.safetensors", "snapshot3.safetensors"]
    config = yaml.safe_load((run / "ensemble.yaml").read_text())
    assert config["model"]["type"] == "ensemble" and len(config["model"]["members"]) == 3

    result = resreg("eval", str(run / "ensemble.yaml"), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    members = [figures[f"test_member{i}_error"] for i in range(3)]
    assert all(0 <= e <= 1 for e in members), figures
    assert figures["test_error"] < 0.9, figures  # better than chance
    # The last snapshot is the run's final model: its error is what training reported.
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if "test_error" in r][-1]["test_error"]
    assert members[-1] == pytest.approx(final, abs=1e-4)
