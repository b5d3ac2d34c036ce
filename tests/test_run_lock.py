"""One writer per run directory: while a `resreg train` process writes a run, a second `train` or
`--resume` on it is refused in one line naming the writer, and nothing of the run is touched; a
directory holding a run is refused to a new run unless --overwrite. The lock of a writer killed
with kill -9 is taken over by the resume: test_resume.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from resreg.engine.launch import RESUMABLE

ENDLESS = {
    "name": "endless",
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B"},
    "data": {"type": "synthetic", "num_images": 128, "image_size": 16, "num_classes": 4},
    "train": {"preset": "cifar_resnet", "length": 100000, "batch_size": 16, "eval_every": 100000},
    "engine": {"threads": 1, "log_every": 1, "checkpoint_every": 0, "progress": "none"},
}  # fmt: skip
# Trained in this process: no engine.threads, which would change this process's torch for the other tests.
SHORT = {**ENDLESS, "name": "short", "train": {**ENDLESS["train"], "length": 4, "eval_every": 4},
         "engine": {**ENDLESS["engine"], "threads": 0}}  # fmt: skip


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.slow
def test_a_second_writer_is_refused_naming_the_process_that_writes_the_run(tmp_path, cli):
    (tmp_path / "endless.yaml").write_text(json.dumps(ENDLESS))
    env = {**os.environ, "RESREG_DEBUG": ""}
    writer = subprocess.Popen(
        [sys.executable, "-m", "resreg", "train", "endless.yaml", "--run-dir", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run = tmp_path / "run"
    try:
        deadline = time.monotonic() + 600
        while not (run / "metrics.jsonl").exists():  # training has started: the lock is held
            assert writer.poll() is None, writer.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the writer never started training"
            time.sleep(0.05)
        (run / "checkpoints").mkdir()
        leftover = run / "checkpoints" / ".last.pt.inflight.tmp"  # as if the writer were saving right now
        leftover.write_bytes(b"being written")

        holder = f"in use by pid {writer.pid} on {socket.gethostname()}"
        for args in (["--resume", str(run)],
                     [str(tmp_path / "endless.yaml"), "--run-dir", str(run)],
                     [str(tmp_path / "endless.yaml"), "--run-dir", str(run), "--overwrite"]):  # fmt: skip
            rows_before = len((run / "metrics.jsonl").read_text().splitlines())
            result = cli("train", *args)
            assert result.status == 2, result.err
            assert holder in one_line(result.err) and "one run writes a run directory at a time" in result.err
            assert leftover.exists() and (run / "config.yaml").exists()
            while len((run / "metrics.jsonl").read_text().splitlines()) <= rows_before:  # it goes on training
                assert writer.poll() is None, writer.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the writer stopped training"
                time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGTERM)
        _, err = writer.communicate(timeout=120)
    assert writer.returncode == RESUMABLE, err[-3000:]
    assert not (run / "run.lock").exists(), "the lock outlived its writer's clean exit"


def test_a_run_dir_holding_a_run_is_refused_unless_overwrite(tmp_path, cli):
    config = tmp_path / "short.yaml"
    config.write_text(json.dumps(SHORT))
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    old = {"config.yaml": "name: old\n", "metrics.jsonl": '{"step": 1}\n', "pushes.jsonl": '{"repo": "me/old"}\n',
           "checkpoints/last.pt": "an old checkpoint"}  # fmt: skip
    for name, text in old.items():
        (run / name).write_text(text)

    for extra in ([], ["--nproc", "2"]):  # the launcher refuses before it starts any process
        result = cli("train", str(config), "--run-dir", str(run), *extra)
        assert result.status == 2, result.err
        assert one_line(result.err) == (
            f"resreg train: error: --run-dir {run} already holds a run (config.yaml, metrics.jsonl, checkpoints, "
            f"pushes.jsonl): continue it with resreg train --resume {run}, replace it with --overwrite, "
            "or give another --run-dir"
        )
        assert {name: (run / name).read_text() for name in old} == old

    result = cli("train", "--resume", str(run), "--overwrite")
    assert result.status == 2 and "give one of them" in one_line(result.err)

    result = cli("train", str(config), "--run-dir", str(run), "--overwrite")
    assert result.status == 0, result.err
    assert not (run / "pushes.jsonl").exists(), "a file of the old run is left beside the new one"
    assert "name: short" in (run / "config.yaml").read_text()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 4]
    assert (run / "model.safetensors").is_file() and not (run / "run.lock").exists()


@pytest.mark.slow  # trains a run in this process
def test_a_restarted_process_begins_again_the_run_it_left_before_its_first_checkpoint(tmp_path, cli):
    """torchrun --max-restarts and a SLURM requeue run the same command again: with no checkpoint to
    resume, that command's own run directory is not a run to refuse."""
    config = tmp_path / "short.yaml"
    config.write_text(json.dumps(SHORT))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(json.dumps(SHORT))
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    assert cli("train", str(config), "--run-dir", str(run)).status == 2
    result = cli("train", str(config), "--run-dir", str(run), env={"SLURM_RESTART_COUNT": "1"})
    assert result.status == 0, result.err
    assert (run / "model.safetensors").is_file()
