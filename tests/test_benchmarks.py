"""Every benchmark still runs: each script's --smoke (tiny sizes, one thread) in a subprocess, as a user runs it.

The figures of a smoke run mean nothing; what is checked is that the script ends well and prints the
machine line and its table. Full runs are for a quiet machine (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
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
def test_gpu_suite_smoke_runs_every_part_on_the_cpu(tmp_path) -> None:
    """benchmarks/gpu_suite.sh --smoke: the GPU script's four parts, tiny, on the CPU (it cannot rot unseen).

    Each part's table must hold a measured row: a part that broke leaves a dash row or no table.
    """
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_suite.sh"), "--smoke"],
        capture_output=True, text=True, timeout=1800,
        env={**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "| resnet18 | eager |" in (tmp_path / "bare-auto.md").read_text()
    engine = (tmp_path / "engine.md").read_text()
    assert re.search(r"\| precision=auto \(bare step \w+: [\d.]+ img/s\) \| [\d,]+ \| [\d.]+ [✓✗]", engine), engine
    quickstart = (tmp_path / "quickstart.md").read_text()
    assert "final test acc:" in quickstart and "exit status:     0" in quickstart, quickstart
    jpeg = (tmp_path / "jpeg.md").read_text()
    for run in ("resnet18 synthetic", "resnet18 JPEG decode=cuda", "resnet18 JPEG decode=cpu",
                "resnet18 JPEG decode=cuda prefetch=false"):
        assert re.search(rf"\| {run} \| [\d,]+ \|", jpeg), jpeg
    degradation = (tmp_path / "degradation.md").read_text()
    assert degradation.count("| 1/1 |") == 8, degradation  # plain and ResNet-20/32/44/56, one seed each
    summary = (tmp_path / "summary.md").read_text()
    assert all(f"### {part}." in summary for part in range(1, 5)), summary
