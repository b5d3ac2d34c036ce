"""The quickstart for real: `resreg train quickstart`, shortened, on the Fashion-MNIST files.

The full quickstart (configs/quickstart.yaml) trains 2 epochs (100 s on the 2-core CI machine) to 92% test accuracy;
CI runs a quarter of an epoch of the same config through the real command and checks the accuracy of
the weights it saved on the full 10,000-image test split.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
SHORT = ["train.length=0.25", "train.schedule.warmup=0.1", "engine.log_every=10", "engine.checkpoint_every=0"]
MIN_ACCURACY = 0.75  # a quarter epoch (15,000 images, ~17 s here) gave 0.82; the full quickstart 0.92


@pytest.mark.skipif(not FASHION.exists() and not os.environ.get("RESREG_DATA"),
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")  # fmt: skip
@pytest.mark.slow  # the quickstart as a user runs it: CI runs it
def test_shortened_quickstart_learns_fashion_mnist(tmp_path, resreg_process):
    # A real process (the installed command, as the README runs it), with no time limit but a hang guard:
    # how fast it trains depends on the CPU (engine.precision: auto is bf16 only where it is native).
    result = resreg_process(
        "train", "quickstart", *SHORT, "--run-dir", str(tmp_path / "run"), env={"RESREG_DEBUG": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "step 10/" in result.stderr  # plain progress lines when not on a terminal
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    test = [r for r in rows if "test_error" in r][-1]
    assert 1 - test["test_error"] >= MIN_ACCURACY, test
    assert (tmp_path / "run" / "model.safetensors").exists()
