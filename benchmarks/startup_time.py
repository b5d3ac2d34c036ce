"""Start-up time of the listing commands (issue 17): median wall time of a fresh process, and whether it
imported torch. Goal: `resreg list` under 1.5 s on a quiet 2-core machine, torch not imported.

    python benchmarks/startup_time.py            # 5 runs per command
    python benchmarks/startup_time.py --runs 3

Each command runs as `python -c <wrapper> ARGS` (the `resreg` entry point's code, plus a report of which
heavy modules ended up in sys.modules), and `python -c "import torch, timm"` is timed alongside, so the
figures compare with what the old eager registration paid on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

WRAPPER = (
    "import contextlib, io, sys\n"
    "from resreg.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n"
    "        main(sys.argv[1:])\n"
    "    except SystemExit:\n"
    "        pass\n"
    "print(' '.join(m for m in ('torch', 'timm') if m in sys.modules) or '-')\n"
)
COMMANDS = [["--help"], ["list"], ["list", "blocks"], ["plugins"], ["list", "blocks", "-v"]]


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, python {sys.version.split()[0]}")
    print(f"{'command':<28} {'median s':>8} {'min s':>6}  imported")
    rows = [(f"resreg {' '.join(c)}", [sys.executable, "-c", WRAPPER, *c]) for c in COMMANDS]
    rows.append(("import torch, timm", [sys.executable, "-c", "import torch, timm; print('torch timm')"]))
    for label, argv in rows:
        runs = [timed(argv) for _ in range(args.runs)]
        seconds = [s for s, _ in runs]
        print(f"{label:<28} {statistics.median(seconds):>8.2f} {min(seconds):>6.2f}  {runs[-1][1]}")


if __name__ == "__main__":
    main()
