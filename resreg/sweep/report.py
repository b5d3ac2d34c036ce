"""A sweep's results written out: results.md, results.csv and the curves; and the plan's costs for --dry-run."""

from __future__ import annotations

import importlib.util
import statistics
import warnings
from pathlib import Path
from typing import Any

from resreg.io import write_text_atomic
from resreg.layout import CURVES_FILE
from resreg.plot import plot_runs
from resreg.sweep.plan import state_of
from resreg.sweep.results import GroupResult


def _stats(values: list[float]) -> tuple[float, float, float, float] | None:
    """mean, sample std (0 for one value), min, max."""
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std, min(values), max(values)


def _spread(values: list[float]) -> str:
    stats = _stats(values)
    if stats is None:
        return "-"
    mean, std, low, high = stats
    return f"{mean:.2f}" if len(values) == 1 else f"{mean:.2f} ± {std:.2f} ({low:.2f}–{high:.2f})"


def _si(value: float) -> str:
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.2f}{suffix}"
    return f"{value:.0f}"


CSV_FIELDS = (
    "group", "run_dirs", "seeds", "finished",
    "train_error_pct_mean", "train_error_pct_std", "train_error_pct_min", "train_error_pct_max",
    "test_error_pct_mean", "test_error_pct_std", "test_error_pct_min", "test_error_pct_max",
    "params", "macs", "train_images", "wall_s_mean",
)  # fmt: skip


def csv_rows(results: list[GroupResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        row: dict[str, Any] = {"group": r.label, "run_dirs": f"{r.group}-seed*", "seeds": len(r.runs),
                               "finished": len(r.finished)}  # fmt: skip
        for name, values in (("train_error_pct", r.train_error), ("test_error_pct", r.test_error)):
            stats = _stats(values)
            for stat, value in zip(("mean", "std", "min", "max"), stats or (None,) * 4, strict=True):
                row[f"{name}_{stat}"] = None if value is None else round(value, 4)
        row |= {"params": r.cost.params, "macs": r.cost.macs, "train_images": r.cost.images,
                "wall_s_mean": round(statistics.fmean(r.wall_s), 1) if r.wall_s else None}  # fmt: skip
        rows.append(row)
    return rows


def markdown_table(results: list[GroupResult]) -> str:
    lines = [
        "| config | seeds | train error % | test error % | params | MACs | wall s / run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wall = f"{statistics.fmean(r.wall_s):.0f}" if r.wall_s else "-"
        lines.append(f"| {r.label} | {len(r.finished)}/{len(r.runs)} | {_spread(r.train_error)} | "
                     f"{_spread(r.test_error)} | {_si(r.cost.params)} | {_si(r.cost.macs)} | {wall} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_results(results: list[GroupResult], out: Path, title: str) -> list[Path]:
    """results.md, results.csv and the curves (resreg.plot) in `out`; returns the files written."""
    import csv
    import io

    note = ("Mean ± sample std (min–max) over the finished seeds, in %. Train error: the last log window "
            "(with augmentation); test error: the last evaluation. MACs: forward multiply-adds per image. "
            "Wall time: of each `resreg train` process, start-up included, summed over its attempts "
            "(runs sharing a device slow each other down).")  # fmt: skip
    table = markdown_table(results)
    write_text_atomic(out / "results.md", f"# {title}\n\n{table}\n{note}\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(results))
    write_text_atomic(out / "results.csv", buffer.getvalue())
    written = [out / "results.md", out / "results.csv"]
    if importlib.util.find_spec("matplotlib") is None:  # the table matters more than the figures: keep it
        warnings.warn("matplotlib is not installed, so no curves were drawn (pip install matplotlib)", stacklevel=2)
        return written
    drawn = [r for r in results if r.finished]  # the groups with a finished seed
    if drawn:
        firsts = [r.finished[0].dir for r in drawn]
        written.append(plot_runs(firsts, out / CURVES_FILE, title=title, names=[r.label for r in drawn]))
    for r in drawn:  # curves/ is named as the run directories are
        seeds = [f"seed {run.seed}" for run in r.finished]
        path = out / "curves" / f"{r.group}.png"
        written.append(plot_runs([run.dir for run in r.finished], path, title=r.label, names=seeds))
    return written


def estimate_table(results: list[GroupResult]) -> str:
    """What `--dry-run` prints: each group's size and its training cost per seed, and the sweep's total."""
    lines = [f"{'group':<40} {'state':<12} {'params':>8} {'MACs':>8} {'images':>9} {'train MACs/seed':>16}"]
    total = 0
    for r in results:
        total += r.cost.train_macs * len(r.runs)
        states = ",".join(sorted({state_of(run) for run in r.runs}))
        lines.append(f"{r.label:<40} {states:<12} {_si(r.cost.params):>8} {_si(r.cost.macs):>8} "
                     f"{_si(r.cost.images):>9} {_si(r.cost.train_macs):>16}")  # fmt: skip
    lines.append(f"total training multiply-adds, all seeds (3 x forward): {_si(total)} "
                 f"({total / 1e15:.3f} PMAC)")  # fmt: skip
    return "\n".join(lines)
