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
from safetensors import safe_open
from safetensors.torch import load_file
from training_probe import probe_site, probed_processes

from resreg.engine.launch import RESUMABLE
from resreg.engine.stop_signals import STOP_CHECK_EVERY

pytestmark = pytest.mark.slow  # each starts a real training process (about 15 s on 2 busy cores)

CONFIG = {
    "name": "signals",
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B"},
    "data": {"type": "synthetic", "num_images": 256, "image_size": 16, "num_classes": 4},
    "train": {"preset": "fast", "unit": "step", "length": 100000, "batch_size": 32, "eval_every": 100000,
              "schedule": {"warmup": 0}},
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


# --- a stopped run continues where it stopped -------------------------------------------------------
# A probe plugin (tests/training_probe.py) sends the signal from inside the run at a chosen step, so
# the stop lands on a known step, and records the steps each process trained: a resume that restarted
# from step 0 would reach the same weights (the run is deterministic), but not train the same steps.
SHORT = {
    "name": "stopped",
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B", "drop_path_rate": 0.2},
    "data": {"type": "synthetic", "num_images": 128, "image_size": 16, "num_classes": 4},
    "train": {"preset": "cifar_resnet", "length": 24, "batch_size": 16, "eval_every": 8,
              "schedule": {"milestones": [12]}},
    "engine": {"deterministic": True, "threads": 1, "log_every": 1, "checkpoint_every": 0, "progress": "lines"},
}  # fmt: skip
LAST_STEP = 24


def train_probed(cwd: Path, *args: str, stop_at: str = "") -> subprocess.CompletedProcess[str]:
    """`resreg train ARGS` in `cwd` with the probe plugin; `stop_at` "STEP SIGNAL" stops it after STEP + 1."""
    (cwd / "short.yaml").write_text(json.dumps(SHORT))
    path = os.pathsep.join(filter(None, [str(probe_site(cwd / "probe-site")), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "RESREG_DEBUG": "", "PYTHONPATH": path, "RESREG_PROBE_LOG": str(cwd / "probe.jsonl"),
           "RESREG_PROBE_STOP_AT": stop_at}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "resreg", "train", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]


def final_model(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = run_dir / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    return load_file(path), metadata


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    result = train_probed(root, "short.yaml", "--run-dir", "run")
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


def assert_same_run(got: Path, expected: Path) -> None:
    """Bitwise the same final weights and recorded metrics, the same rows and the same best checkpoint."""
    (weights, metadata), (expected_weights, expected_metadata) = final_model(got), final_model(expected)
    assert weights.keys() == expected_weights.keys()
    assert all(torch.equal(weights[k], expected_weights[k]) for k in weights), "other final weights"
    assert json.loads(metadata["metrics"]) == json.loads(expected_metadata["metrics"])
    assert rows(got) == rows(expected)
    best, expected_best = (torch.load(d / "checkpoints" / "best.pt", weights_only=True) for d in (got, expected))
    assert best["step"] == expected_best["step"]


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGUSR1"])
def test_a_run_stopped_by_a_signal_resumes_at_its_checkpoint_and_ends_as_an_uninterrupted_run(
    tmp_path, uninterrupted, sig
):
    # Stopped after step 16, an evaluation step: the evaluation is done before the stop, as without it.
    stopped = train_probed(tmp_path, "short.yaml", "--run-dir", "run", stop_at=f"15 {sig}")
    assert stopped.returncode == RESUMABLE, stopped.stderr[-3000:]
    assert checkpointed_step(tmp_path / "run") == 16
    assert [row["step"] for row in rows(tmp_path / "run")][-2:] == [16, 16]  # its window, then its evaluation

    resumed = train_probed(tmp_path, "--resume", "run")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first, second = probed_processes(tmp_path / "probe.jsonl")
    assert first == {"start": 0, "steps": list(range(1, 17))}
    assert second == {"start": 16, "steps": list(range(17, LAST_STEP + 1))}, "the resumed process trained other steps"
    assert_same_run(tmp_path / "run", uninterrupted)


def test_a_stop_in_the_last_step_ends_the_run_as_a_finished_one(tmp_path, uninterrupted):
    stopped = train_probed(tmp_path, "short.yaml", "--run-dir", "run", stop_at=f"{LAST_STEP - 1} SIGTERM")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "SIGTERM: stopping after this step" in stopped.stderr
    assert f"finished at step {LAST_STEP}" in stopped.stderr and "Traceback" not in stopped.stderr
    assert_same_run(tmp_path / "run", uninterrupted)

    again = train_probed(tmp_path, "--resume", "run")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"run finished at step {LAST_STEP}: nothing to do" in again.stderr
    assert_same_run(tmp_path / "run", uninterrupted)
