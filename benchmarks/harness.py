"""What every benchmark here shares: the machine it ran on, interleaved repetitions, and ratios as median and spread.

The benchmarks compare two things measured in one run on one machine, so that the ratio, not the
absolute figure, is the result: a shared or throttled machine slows both sides alike when their
repetitions alternate (A B, B A, A B, ...). Scripts import this module by name (`python benchmarks/x.py`
puts benchmarks/ first on sys.path).
"""

from __future__ import annotations

import platform
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from resreg.machine import usable_cores  # the affinity mask: what the engine uses too


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (elsewhere, what `platform` knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def set_threads(requested: int, *, smoke: bool) -> int:
    """Torch's thread count: as requested, else 1 for a smoke run (a loaded CI machine makes several
    threads spin against each other, 40x slower on 2 busy cores), else every usable core."""
    threads = requested or (1 if smoke else usable_cores())
    torch.set_num_threads(threads)
    return threads


def describe_machine() -> str:
    """One line naming the CPU and the features that decide its speed (and the GPU, if any)."""
    yes = {True: "yes", False: "no"}
    line = (
        f"CPU: {cpu_model()}; {usable_cores()} usable cores, {torch.get_num_threads()} torch threads; "
        f"kernels {torch.backends.cpu.get_cpu_capability()}; AMX {yes[bool(torch.cpu._is_amx_tile_supported())]}; "
        f"AVX512-BF16 {yes[bool(torch.cpu._is_avx512_bf16_supported())]}; torch {torch.__version__}"
    )
    if torch.cuda.is_available():
        line += f"; GPU: {torch.cuda.get_device_name()}"
    return line


def interleaved(measure: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Call each measurement `reps` times, alternating the order (A B, B A, ...); their results by name."""
    results: dict[str, list[float]] = {name: [] for name in measure}
    names = list(measure)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            results[name].append(measure[name]())
    return results


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-repetition ratios (each pair measured back to back)."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def spread(values: Sequence[float], digits: int = 3) -> str:
    """'median [min .. max]' of a few repetitions; with 4 or more, the quartiles too."""
    values = sorted(values)
    text = f"{statistics.median(values):.{digits}f} [{values[0]:.{digits}f} .. {values[-1]:.{digits}f}]"
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4)
        text += f" IQR {q1:.{digits}f}-{q3:.{digits}f}"
    return text


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns as wide as their widest cell; the first left-aligned, the others right-aligned."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        first, *rest = row
        print("  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]))
