"""Resume through real processes: kill -9 after a checkpoint, `resreg train --resume`, and the final
weights are bitwise those of an uninterrupted run (deterministic mode, CPU). Stop signals: test_signals.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

CONFIG = {
    "name": "resume",
    # Dropout-like randomness too (stochastic depth), so the generator state must survive the resume.
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B", "drop_path_rate": 0.2},
    "data": {"type": "synthetic", "num_images": 512, "image_size": 16, "num_classes": 4},
    "train": {"preset": "cifar_resnet", "length": 240, "batch_size": 32, "eval_every": 60,
              "schedule": {"milestones": [120, 180], "warmup_lr": 0.01, "warmup_until_error": 0.7}},
    "engine": {"deterministic": True, "threads": 1, "log_every": 10, "checkpoint_every": 20, "progress": "lines"},
}  # fmt: skip


def start(config_file: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RESREG_DEBUG": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "resreg", "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=config_file.parent,
    )  # fmt: skip


# Timeouts guard against hangs only: a busy 2-core machine may be ten times slower than an idle one.
HANG_S = 1800


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = HANG_S) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "resume.yaml"
    path.write_text(json.dumps(CONFIG))
    return path


def test_kill_9_then_resume_is_bitwise_equal_to_an_uninterrupted_run(config_file, tmp_path):
    whole = start(config_file, str(config_file), "--run-dir", "whole")
    assert whole.wait(timeout=HANG_S) == 0, whole.communicate()[1]

    killed = start(config_file, str(config_file), "--run-dir", "killed")
    wait_for(tmp_path / "killed" / "checkpoints" / "last.pt", killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "model.safetensors").exists(), "the run ended before the kill: make it longer"

    resumed = start(config_file, "--resume", "killed")
    _, err = resumed.communicate(timeout=HANG_S)
    assert resumed.returncode == 0, err

    expected = load_file(tmp_path / "whole" / "model.safetensors")
    got = load_file(tmp_path / "killed" / "model.safetensors")
    assert expected.keys() == got.keys()
    different = [k for k in expected if not (expected[k] == got[k]).all()]
    assert not different, f"not bitwise equal: {different[:5]}"
    assert rows(tmp_path / "killed") == rows(tmp_path / "whole")
