"""Every benchmark still runs: each script's --smoke (tiny sizes, one thread) in a subprocess, as a user runs it.

The figures of a smoke run mean nothing; what is checked is that the script ends well and prints the
machine line and its table. Full runs are for a quiet machine (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

#: script -> a phrase its table prints
SMOKE_OUTPUT = {
    "train_loop_overhead.py": "ratio median",
    "train_step_flops.py": "ratio model / matmul",
    "models_vs_timm.py": "NHWC ratio median",
    "folder_loader_throughput.py": "ratio resreg / torchvision",
    "augment_throughput.py": "ratio (batched / per image)",
    "densenet_memory.py": "peak allocated",
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE_OUTPUT))
def test_benchmark_smoke_run(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("CPU: "), result.stdout[:500]
    assert SMOKE_OUTPUT[script] in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
def test_gpu_suite_smoke_runs_on_the_cpu(tmp_path) -> None:
    """benchmarks/gpu_suite.sh --smoke: the GPU script's three parts, tiny, on the CPU (it cannot rot unseen)."""
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_suite.sh"), "--smoke"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "| resnet18 | eager |" in result.stdout, result.stdout[-3000:]
    assert (tmp_path / "engine-smoke" / "model.safetensors").is_file()
    assert "final test acc:" in result.stdout and "exit status:     0" in result.stdout, result.stdout[-3000:]
