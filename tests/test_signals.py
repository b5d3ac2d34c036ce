"""Stop signals through real processes: SIGTERM (a kill, SLURM's time limit, preemption) and SIGUSR1
(sbatch --signal=USR1@90) checkpoint after the current step and exit with RESUMABLE (75), the status
a requeue script acts on; under `--nproc` the launcher forwards the signal to its workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from resreg.engine.launch import RESUMABLE
from resreg.engine.loop import STOP_CHECK_EVERY

pytestmark = pytest.mark.slow  # each starts a real training process (about 15 s on 2 busy cores)

CONFIG = {
    "name": "signals",
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B"},
    "data": {"type": "synthetic", "num_images": 256, "image_size": 16, "num_classes": 4},
    "train": {"preset": "fast", "unit": "step", "length": 100000, "batch_size": 32, "eval_every": 100000},
    "engine": {"threads": 1, "log_every": 10, "checkpoint_every": 0, "progress": "lines", "precision": "fp32"},
}  # fmt: skip


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    (cwd / "signals.yaml").write_text(json.dumps(CONFIG))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE") and not k.startswith("SLURM_")}
    return subprocess.Popen(
        [sys.executable, "-m", "resreg", "train", "signals.yaml", "--run-dir", "run", *args],
        cwd=cwd, env={**env, "RESREG_DEBUG": ""}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 200) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def checkpointed_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_a_stop_signal_checkpoints_and_exits_resumable(tmp_path, sig):
    process = start(tmp_path)
    wait_for(tmp_path / "run" / "metrics.jsonl", process)  # training has started
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == RESUMABLE == 75, err[-3000:]
    assert f"{sig.name}: stopping after this step, with a checkpoint" in err
    assert f"({sig.name}), checkpoint saved: resume with resreg train --resume run" in err
    assert "Traceback" not in err
    assert 10 <= checkpointed_step(tmp_path / "run") < 100000


def test_the_nproc_launcher_forwards_sigterm_to_its_workers(tmp_path):
    process = start(tmp_path, "--nproc", "2")
    wait_for(tmp_path / "run" / "metrics.jsonl", process)
    process.send_signal(signal.SIGTERM)  # to the launcher alone: its workers live in sessions of their own
    _, err = process.communicate(timeout=120)
    assert process.returncode == RESUMABLE, err[-3000:]
    assert "SIGTERM: stopping after this step" in err and "Traceback" not in err
    step = checkpointed_step(tmp_path / "run")
    assert 10 <= step < 100000
    assert step % STOP_CHECK_EVERY == 0  # the ranks agree on a stop only there: no host sync on the other steps
