"""Resume through real processes: kill -9 after a checkpoint, `resreg train --resume`, and the run
continues where its checkpoint left off (a probe plugin, tests/training_probe.py, sees the steps the
resumed process trains) to final weights bitwise those of an uninterrupted run (deterministic mode,
CPU). A finished run, one missing its final model, and overrides that would change what the
checkpoint was trained as. Stop signals: test_signals.py; the run directory's lock: test_run_lock.py.

A run that restarted from step 0 instead of loading its checkpoint reaches the same weights (the
runs are deterministic), so these tests check which steps the resumed process trained, not only
where it ended.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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

CONFIG = {
    "name": "resume",
    # Dropout-like randomness too (stochastic depth), so the generator state must survive the resume.
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B", "drop_path_rate": 0.2},
    "data": {"type": "synthetic", "num_images": 512, "image_size": 16, "num_classes": 4},
    "train": {"preset": "cifar_resnet", "length": 240, "batch_size": 32, "eval_every": 60,
              "schedule": {"milestones": [120, 180], "warmup_lr": 0.01, "warmup_until_error": 0.7}},
    "engine": {"deterministic": True, "threads": 1, "log_every": 10, "checkpoint_every": 20, "progress": "lines"},
}  # fmt: skip
LAST_STEP, LOG_EVERY = 240, 10

# Timeouts guard against hangs only: a busy 2-core machine may be ten times slower than an idle one.
HANG_S = 1800


def start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """`resreg train ARGS` in `cwd`, with the probe plugin logging to cwd/probe.jsonl."""
    site = probe_site(cwd / "probe-site")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "RESREG_DEBUG": "", "PYTHONPATH": path, "RESREG_PROBE_LOG": str(cwd / "probe.jsonl")}
    return subprocess.Popen(
        [sys.executable, "-m", "resreg", "train", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=cwd,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> str:
    _, err = process.communicate(timeout=HANG_S)
    assert process.returncode == 0, err[-3000:]
    return err


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = HANG_S) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.02)


def rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]


def checkpointed_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"]


def assert_same_weights(a: Path, b: Path) -> None:
    expected, got = load_file(a), load_file(b)
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"not bitwise equal: {different[:5]}"


def recorded_metrics(weights: Path) -> dict:
    with safe_open(str(weights), framework="pt") as f:
        return json.loads(f.metadata()["metrics"])


def contents(run_dir: Path) -> dict[str, str]:
    """Every file of a run directory and a hash of its bytes."""
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A folder with resume.yaml and `whole/`, the uninterrupted run the others are compared with."""
    root = tmp_path_factory.mktemp("runs")
    (root / "resume.yaml").write_text(json.dumps(CONFIG))
    finish(start(root, "resume.yaml", "--run-dir", "whole"))
    return root


@pytest.fixture
def finished(runs, tmp_path) -> Path:
    """A copy of the finished uninterrupted run, to resume."""
    return Path(shutil.copytree(runs / "whole", tmp_path / "run"))


def test_kill_9_then_resume_continues_from_the_checkpoint_to_an_uninterrupted_runs_weights(runs, tmp_path):
    (tmp_path / "resume.yaml").write_text(json.dumps(CONFIG))
    killed = start(tmp_path, "resume.yaml", "--run-dir", "killed")
    run = tmp_path / "killed"
    wait_for(run / "checkpoints" / "last.pt", killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert not (run / "model.safetensors").exists(), "the run ended before the kill: make it longer"
    step = checkpointed_step(run)
    before = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    # What a kill -9 during a checkpoint write leaves: the resume removes it.
    leftover = run / "checkpoints" / ".last.pt.k9x2q7r1.tmp"
    leftover.write_bytes(b"half a checkpoint")

    err = finish(start(tmp_path, "--resume", "killed"))

    first, resumed = probed_processes(tmp_path / "probe.jsonl")
    assert first["start"] == 0
    assert resumed["start"] == step > 0, "the resumed process did not start at the checkpoint's step"
    assert resumed["steps"] == list(range(step + LOG_EVERY, LAST_STEP + 1, LOG_EVERY)), "it trained other steps"
    # The rows up to the checkpoint are the killed process's own (their images/s too); the resumed
    # process's first row follows them.
    after = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    kept = [line for line in before if json.loads(line)["step"] <= step]
    assert after[: len(kept)] == kept
    assert json.loads(after[len(kept)])["step"] > step
    assert_same_weights(runs / "whole" / "model.safetensors", run / "model.safetensors")
    assert rows(run) == rows(runs / "whole")
    assert not leftover.exists()
    # The killed process never released the run's lock; the resume took it over and said so.
    assert f"pid {killed.pid} on " in err and "stopped without releasing" in err
    assert not (run / "run.lock").exists()


@pytest.mark.slow
def test_resume_of_a_finished_run_says_so_and_changes_nothing(finished):
    before = contents(finished)
    err = finish(start(finished.parent, "--resume", "run"))
    assert err.strip() == f"resreg train: run finished at step {LAST_STEP}: nothing to do " \
                          "(a longer train.length continues it)"  # fmt: skip
    assert contents(finished) == before


@pytest.mark.slow
def test_a_finished_run_resumed_with_a_longer_length_trains_only_the_new_steps(finished):
    before = rows(finished)
    finish(start(finished.parent, "--resume", "run", "train.length=260"))
    (resumed,) = probed_processes(finished.parent / "probe.jsonl")
    assert resumed == {"start": LAST_STEP, "steps": [250, 260]}
    after = rows(finished)
    assert after[: len(before)] == before
    assert [row["step"] for row in after[len(before) :]] == [250, 260, 260]  # two windows, the final evaluation
    with safe_open(str(finished / "model.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["step"]) == 260


@pytest.mark.slow
def test_a_run_checkpointed_at_its_last_step_without_its_final_model_ends_as_a_finished_run(runs, finished):
    """What a kill or a full disk between the last checkpoint and model.safetensors leaves."""
    (finished / "model.safetensors").unlink()
    finish(start(finished.parent, "--resume", "run"))
    whole = runs / "whole" / "model.safetensors"
    assert_same_weights(whole, finished / "model.safetensors")
    # The figures come from metrics.jsonl, which holds all but the top-5 errors.
    logged = {key for row in rows(finished) for key in row}
    expected = {k: v for k, v in recorded_metrics(whole).items() if k in logged}
    assert {"test_error", "test_loss", "train_loss", "train_error"} <= expected.keys()
    assert recorded_metrics(finished / "model.safetensors") == expected
    assert (finished / "metrics.jsonl").read_text() == (runs / "whole" / "metrics.jsonl").read_text()
    assert probed_processes(finished.parent / "probe.jsonl") == [{"start": LAST_STEP, "steps": []}]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [(["model.depths=[2,2,2]"], "model.depths"),
     (["data.image_size=32", "model.widths=[8,8,16]"], "model.widths, data.image_size"),
     (["train.optimizer=adamw"], "train.optimizer")],
)  # fmt: skip
def test_resume_refuses_overrides_that_change_what_the_checkpoint_was_trained_as(tmp_path, cli, overrides, named):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(json.dumps(CONFIG))  # what --resume reads before anything else
    result = cli("train", "--resume", str(run), *overrides, "engine.progress=none")
    assert result.status == 2
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert f"--resume {run}: {named} would change what the checkpoint was trained as" in result.err
    assert "a new run is what you want" in result.err and "--run-dir NEW_DIR" in result.err
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]
