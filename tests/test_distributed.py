"""DDP through a real torchrun (gloo, CPU): 2 processes give the loss trajectory of 1 process with the
same global batch.

Tolerance: relative 1e-4 per step on the train loss (and on the final test loss), absolute 1e-4 on
the final weights. The only difference allowed is the order of floating-point sums (two half-batch
gradients all-reduced vs one batch). The model is a small conv net WITHOUT BatchNorm, registered by a
throw-away plugin distribution: BatchNorm statistics are per process in DDP (SyncBatchNorm runs on
GPUs only), which would make the trajectories differ by design, not by a bug.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow  # two torchrun processes plus one plain run: about 30 s on 2 cores

PLUGIN = '''
import torch.nn as nn
import resreg


class NoNormNet(nn.Module):
    """Two convolutions and a linear classifier, no normalisation (a test plugin)."""

    def __init__(self, *, num_classes: int = 10, in_chans: int = 3, width: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width, num_classes)
        self.pretrained_cfg = {"num_classes": num_classes, "input_size": (in_chans, 16, 16)}

    def forward(self, x):
        return self.fc(self.features(x))


@resreg.hookimpl
def resreg_register(registry):
    registry.register("builder", "nonorm", NoNormNet)
'''

CONFIG = {
    "name": "ddp",
    "model": {"type": "nonorm"},
    "data": {"type": "synthetic", "num_images": 512, "image_size": 16, "num_classes": 4},
    "train": {"type": "fast", "unit": "step", "length": 16, "batch_size": 64, "eval_every": 16, "lr": 0.1,
              "crop_padding": 2, "hflip": True},
    "engine": {"log_every": 1, "checkpoint_every": 0, "progress": "lines", "threads": 1},
}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A plugin distribution on a path entry: its module and a dist-info with the entry point."""
    root = tmp_path_factory.mktemp("site")
    (root / "resreg_nonorm.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "resreg_nonorm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: resreg-nonorm\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[resreg]\nnonorm = resreg_nonorm\n")
    return root


def train(site: Path, cwd: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(site), "RESREG_DEBUG": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "resreg", "train", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def metrics(run_dir: Path) -> tuple[list[float], dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in rows if "train_loss" in r], next(r for r in rows if "test_loss" in r)


def test_two_processes_follow_the_one_process_trajectory(site, tmp_path):
    config = tmp_path / "ddp.yaml"
    config.write_text(json.dumps(CONFIG))
    train(site, tmp_path, str(config), "--run-dir", "one")
    train(site, tmp_path, str(config), "--nproc", "2", "--run-dir", "two")

    one_losses, one_test = metrics(tmp_path / "one")
    two_losses, two_test = metrics(tmp_path / "two")
    assert len(one_losses) == len(two_losses) == 16
    assert two_losses == pytest.approx(one_losses, rel=1e-4)
    assert len({round(loss, 5) for loss in one_losses}) > 8  # the losses move: the comparison is not vacuous
    assert two_test["test_loss"] == pytest.approx(one_test["test_loss"], rel=1e-4)
    assert two_test["test_error"] == pytest.approx(one_test["test_error"], abs=1e-9)

    one, two = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    for key in one:
        assert (one[key] - two[key]).abs().max() < 1e-4, key
