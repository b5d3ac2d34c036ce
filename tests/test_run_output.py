"""What a run says, through real `resreg train` processes: the banner, loss and images/s from the first
steps, the final line; Ctrl-C acknowledged while the step is still running; out of memory (a real
allocation failure) and a bad config under `--nproc` as one line with exit status 2."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from plugin_site import write_plugin_site

slow = pytest.mark.slow  # each starts a real training process (about 15 s on 2 busy cores)

PLUGIN = '''
import time

import torch.nn as nn
import resreg


class Probe(nn.Module):
    """A linear classifier on mean colours whose training forward can be slow or ask for too much memory."""

    def __init__(self, *, num_classes: int = 10, in_chans: int = 3, sleep_s: float = 0.0, greedy: bool = False):
        super().__init__()
        self.fc = nn.Linear(in_chans, num_classes)
        self.sleep_s, self.greedy = sleep_s, greedy

    def forward(self, x):
        if self.training and self.greedy:
            x.new_empty(x.shape[0], 1 << 42)  # 16 TiB per image: the allocator refuses it
        if self.training and self.sleep_s:
            time.sleep(self.sleep_s)  # a long step (as on ImageNet-sized batches)
        return self.fc(x.mean((2, 3)))


@resreg.hookimpl
def resreg_register(registry):
    registry.register("builder", "probe", Probe)
'''

MODEL = {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 8, 8], "shortcut": "B"}
CONFIG = {
    "name": "voice",
    "model": MODEL,
    "data": {"type": "synthetic", "num_images": 256, "image_size": 16, "num_classes": 4},
    "train": {"preset": "fast", "unit": "step", "length": 24, "batch_size": 32, "eval_every": 24,
              "schedule": {"warmup": 0}},
    "engine": {"threads": 1, "log_every": 20, "checkpoint_every": 0, "progress": "lines"},
}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A plugin distribution on a path entry (tests/plugin_site.py)."""
    return write_plugin_site(tmp_path_factory.mktemp("site"), "probe", PLUGIN)


def command(tmp_path: Path, config: dict, *args: str) -> list[str]:
    (tmp_path / "voice.yaml").write_text(json.dumps(config))
    return [sys.executable, "-m", "resreg", "train", "voice.yaml", *args]


def environment(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE") and not k.startswith("SLURM_")}
    return {**env, "PYTHONPATH": str(site), "RESREG_DEBUG": "", "HF_HUB_OFFLINE": "1"}


def run(site: Path, tmp_path: Path, config: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(tmp_path, config, *args), cwd=tmp_path, env=environment(site), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@slow
def test_a_run_says_what_it_is_shows_loss_early_and_where_its_results_are(site, tmp_path):
    result = run(site, tmp_path, CONFIG, "--run-dir", "run")
    err = result.stderr
    assert result.returncode == 0, err[-3000:]

    from torch.utils.flop_counter import FlopCounterMode

    from resreg.models import create_model

    model = create_model(MODEL, num_classes=4, in_chans=3).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 16, 16))
    parameters = sum(p.numel() for p in model.parameters())
    assert "resreg train: run dir run\n" in err
    assert re.search(r"\n  device +cpu\n", err)
    assert re.search(r"\n  precision +(fp32|bf16) \(\S.+\)\n", err)  # the choice and why
    assert re.search(r"\n  threads +1 \(set in the config\)\n", err)
    shown = re.search(r"\n  model +resnet: ([\d,]+) parameters, ([\d.]+) M MACs per 3x16x16 image\n", err)
    assert shown, err[:2000]
    assert int(shown[1].replace(",", "")) == parameters
    assert float(shown[2]) == pytest.approx(counter.get_total_flops() / 2 / 1e6, rel=5e-3)
    assert re.search(r"\n  data +synthetic: 256 train, .*64 test images, 4 classes, batch 32\n", err)
    assert re.search(r"\n  steps +24 \(3 epochs of 8\)", err)

    # Loss and images/s after the first step, long before the first log window (20 steps) ends.
    lines = err.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("step "))
    assert re.match(r"step 1/24 epoch 0\.12 loss \d+\.\d+ err [\d.]+% lr \S+ img/s \d+", lines[first])
    assert first < next(i for i, line in enumerate(lines) if line.startswith("step 20/24"))

    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train_loss" in r] == [20, 24]  # the early figures are shown, not logged
    test_error = next(r for r in rows if "test_error" in r)["test_error"]
    final = lines[-1]
    assert final.startswith("resreg train: finished at step 24 in 0:0")
    assert f"test error {100 * test_error:.2f}%" in final
    assert final.endswith(f"model {Path('run') / 'model.safetensors'}; checkpoints {Path('run') / 'checkpoints'}")
    assert (tmp_path / "run" / "model.safetensors").is_file()


class SlowRun:
    """A run whose every training step sleeps 3 s, read line by line as it prints (with arrival times)."""

    def __init__(self, site: Path, tmp_path: Path) -> None:
        config = {**CONFIG, "model": {"type": "probe", "sleep_s": 3.0}, "train": {**CONFIG["train"], "length": 1000}}
        self.process = subprocess.Popen(
            command(tmp_path, config, "--run-dir", "run"), cwd=tmp_path, env=environment(site),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        while not self.next_line(200).startswith("step 1/1000"):  # step 1 is done; step 2 sleeps
            pass

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def next_line(self, timeout: float) -> str:
        return self.lines.get(timeout=timeout)[1]

    def interrupt(self) -> float:
        """Send Ctrl-C's SIGINT; seconds until the acknowledgement came."""
        sent = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        when, ack = self.lines.get(timeout=30)
        assert ack == "stopping after this step (Ctrl-C again to abort)"
        return when - sent


@slow
def test_ctrl_c_is_acknowledged_at_once_and_the_step_finishes_with_a_checkpoint(site, tmp_path):
    run = SlowRun(site, tmp_path)
    delay = run.interrupt()
    assert delay < 2.0, f"acknowledged after {delay:.1f} s: it waited for the 3 s step"
    rest = [run.next_line(60) for _ in range(2)]  # the last window's figures, then how to resume
    assert run.process.wait(timeout=60) == 130
    stopped = re.search(r"stopped at step (\d+) \(SIGINT\), checkpoint saved: resume with resreg train", rest[-1])
    assert stopped, rest
    step = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert step == int(stopped[1]) >= 2  # the step that was running when Ctrl-C came finished first


@slow
def test_a_second_ctrl_c_aborts_without_waiting_for_the_step(site, tmp_path):
    run = SlowRun(site, tmp_path)
    run.interrupt()
    sent = time.monotonic()
    run.process.send_signal(signal.SIGINT)
    when, line = run.lines.get(timeout=30)
    assert line == "resreg: interrupted" and when - sent < 2.0  # the 3 s step was not waited for
    assert run.process.wait(timeout=60) == 130
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


@slow
def test_out_of_memory_is_one_line_with_a_smaller_batch_to_try(site, tmp_path):
    greedy = {**CONFIG, "model": {"type": "probe", "greedy": True}}
    result = run(site, tmp_path, greedy, "--run-dir", "run")
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert errors[0].startswith("resreg train: error: out of memory on cpu at train.batch_size=32 (")
    assert "can't allocate memory" in errors[0] and errors[0].endswith("; try train.batch_size=16")


@slow
@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.batch_size=64", "train.batch_size=64 (the global batch) must divide by --nproc 3"),
        ("data.type=fashion_mnist", "fashion_mnist not found"),
    ],
    ids=["config", "data"],
)
def test_nproc_checks_config_and_data_once_before_it_starts_processes(site, tmp_path, override, expected):
    missing = tmp_path / "no-data"
    missing.mkdir()
    args = (override, f"data.root={missing}", "data.download=false") if "fashion" in override else (override,)
    result = run(site, tmp_path, CONFIG, "--nproc", "3", *args)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.count("error") == 1 and expected in result.stderr, result.stderr[-3000:]
    assert "torch.distributed" not in result.stderr and "run dir" not in result.stderr  # no process was started


@pytest.mark.parametrize(
    "error",
    [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.\nGPU 0 has 79 GiB"), MemoryError(),
     RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: 8 bytes"),
     RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)")],
    ids=["cuda", "python", "cpu", "mps"],
)  # fmt: skip
def test_allocation_failures_are_out_of_memory_with_half_the_batch_to_try(error):
    from resreg.engine.report import is_out_of_memory, out_of_memory

    assert is_out_of_memory(error)
    message = str(out_of_memory(error, device=torch.device("cpu"), key="eval.batch_size", batch_size=256, world_size=8))
    assert message.endswith("; try eval.batch_size=128") and "\n" not in message and "enforce fail" not in message


def test_other_errors_are_not_out_of_memory_and_an_unsplittable_batch_suggests_a_smaller_model():
    from resreg.engine.report import is_out_of_memory, out_of_memory

    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    message = str(out_of_memory(MemoryError(), device=torch.device("cpu"), key="train.batch_size", batch_size=8,
                                world_size=8))  # fmt: skip
    assert message == "out of memory on cpu at train.batch_size=8 (MemoryError); try a smaller model or image size"
