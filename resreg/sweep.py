"""Sweeps: configs x override grid x seeds, each run trained by `resreg train`, then one results table.

    resreg sweep fashion_mnist/plain20 fashion_mnist/resnet20 --seeds 2 train.lr=0.1,0.05 train.length=5

The grid syntax is Hydra's multirun: `KEY=V1,V2` is an axis (commas inside [...], {...} or quotes
do not split, so `model.depths=[1,1,1],[2,2,2]` is two values), `KEY=V` applies to every run. A
*group* is one config at one grid point; it gets one row of the table, with the mean and spread
over its seeds (`engine.seed` = 0 .. N-1).

Layout (RUNS defaults to OUT/runs; sweeps that share RUNS share the runs they have in common):

    OUT/results.md, results.csv   the table
    OUT/curves.png                the first finished seed of every group (resreg.plot)
    OUT/curves/<group>.png        every seed of one group
    RUNS/<group>-seed<S>/         a run directory of `resreg train`
    RUNS/<group>-seed<S>.log      its output, every attempt appended
    RUNS/<group>-seed<S>.sweep.json   its wall time, summed over attempts

A run whose directory holds the final model is skipped; one with a checkpoint is resumed
(`resreg train --resume`); a directory holding a run of a different config is an error, never
silently reused. Each run is a subprocess of its own, see `Pool`.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from resreg.config import RunConfig, load_config, validate_config
from resreg.config.loader import apply_overrides
from resreg.engine import rundir
from resreg.engine.launch import INTERRUPTED, RESUMABLE
from resreg.errors import ConfigError
from resreg.io import read_json_lines, write_text_atomic
from resreg.layout import CURVES_FILE, LAST_CHECKPOINT, METRICS_FILE, MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file
from resreg.plot import plot_runs
from resreg.plugins import get_registry

SEED_KEY = "engine.seed"
_OPEN, _CLOSE = "[{(", "]})"


# --- the grid -------------------------------------------------------------------------------------
def split_values(override: str) -> tuple[str, list[str]]:
    """`key=v1,v2` -> (key, [v1, v2]): commas split only outside brackets and quotes."""
    key, sep, raw = override.partition("=")
    if not sep or not key or not all(part.isidentifier() for part in key.split(".")):
        raise ConfigError(f"override {override!r} is not KEY=VALUE or KEY=V1,V2 with a dotted KEY (train.lr=0.1,0.05)")
    values, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth < 0:
                raise ConfigError(f"override {override!r}: {char!r} closes nothing")
        elif char == "," and depth == 0:
            values.append(raw[start:i])
            start = i + 1
    if quote or depth:
        raise ConfigError(f"override {override!r}: unclosed {'quote' if quote else 'bracket'}")
    values.append(raw[start:])
    if len(values) > 1 and any(not v.strip() for v in values):
        raise ConfigError(f"override {override!r}: empty value in the list (write KEY=V1,V2,...)")
    return key, values


def parse_overrides(items: Sequence[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Split overrides into plain ones (every run) and grid axes (key, values); bad syntax is a ConfigError."""
    plain: list[str] = []
    axes: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for item in items:
        key, values = split_values(item)
        if key == SEED_KEY:
            raise ConfigError(f"override {item!r}: the sweep sets {SEED_KEY} itself; use --seeds N")
        if key in seen:
            raise ConfigError(f"override {item!r}: {key} is given twice")
        seen.add(key)
        for value in values:
            apply_overrides({}, [f"{key}={value}"])  # the value must be valid YAML: one-line error here
        if len(values) == 1:
            plain.append(item)
        else:
            axes.append((key, values))
    return plain, axes


def grid_points(axes: Sequence[tuple[str, list[str]]]) -> list[list[str]]:
    """Every combination of the axes' values, as override lists (one empty point without axes)."""
    return [[f"{key}={value}" for (key, _), value in zip(axes, combo, strict=True)]
            for combo in itertools.product(*(values for _, values in axes))]  # fmt: skip


# --- the plan -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """One training run of the sweep: `resreg train SOURCE *OVERRIDES --run-dir DIR`."""

    group: str  # config name + grid point: one row of the table
    source: str  # the config as the user gave it
    overrides: tuple[str, ...]  # plain, grid point, then engine.seed
    seed: int
    dir: Path
    config: RunConfig = field(compare=False, repr=False)  # validated: what DIR/config.yaml holds

    @property
    def log(self) -> Path:
        return self.dir.with_name(self.dir.name + ".log")

    @property
    def record(self) -> Path:
        return self.dir.with_name(self.dir.name + ".sweep.json")

    def command(self, state: str) -> list[str]:
        train = [sys.executable, "-m", "resreg", "train"]
        if state == "resume":
            return [*train, "--resume", str(self.dir)]
        # A new run's directory is empty, or holds this config's run stopped before its first
        # checkpoint (state_of checked both), which starts again: --overwrite, or train refuses it.
        return [*train, self.source, *self.overrides, "--run-dir", str(self.dir), "--overwrite"]


def _safe(text: str) -> str:
    """A file-name-safe group name: what a shell would need to quote becomes '_'."""
    return re.sub(r"[^\w.,=+-]", "_", text)


def group_name(source: str, overrides: list[str], point: list[str]) -> str:
    """The config's run name (its `name:`, else its file name) and the grid point, safe as a file name."""
    return _safe(",".join([rundir.run_name(load_config(source, overrides), source), *point]))


def plan(configs: Sequence[str], plain: list[str], axes: list[tuple[str, list[str]]], seeds: int,
         runs_root: Path) -> list[PlannedRun]:  # fmt: skip
    """Load and validate every run's config up front (a typo fails before anything trains).

    Runs are ordered seed-major: every group's seed 0 first, so a sweep cut short still covers every group.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: give a positive number of seeds")
    registry = get_registry()
    runs: list[PlannedRun] = []
    groups: dict[str, str] = {}
    for source in configs:
        for point in grid_points(axes):
            group = group_name(source, [*plain, *point], point)
            if group in groups:
                raise ConfigError(f"{source}: its runs would be named {group!r}, like those of {groups[group]}; "
                                  "give the configs different `name:`s")  # fmt: skip
            groups[group] = source
            for seed in range(seeds):
                overrides = (*plain, *point, f"{SEED_KEY}={seed}")
                config = validate_config(load_config(source, overrides), source, registry)
                runs.append(PlannedRun(group, source, overrides, seed, runs_root / f"{group}-seed{seed}", config))
    return sorted(runs, key=lambda r: r.seed)  # stable: groups keep their order within a seed


def _plain_data(config: dict[str, Any]) -> Any:
    return yaml.safe_load(yaml.safe_dump(config, sort_keys=False))  # tuples -> lists, as config.yaml reads back


def _difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first key path where two plain configs differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if a == b else f"{path or 'the config'}: {a!r} there, {b!r} planned"


def state_of(run: PlannedRun) -> str:
    """finished (final model written), resume (a checkpoint), or new; a different run there is a ConfigError."""

    saved = run.dir / RUN_CONFIG_FILE
    if saved.is_file():
        difference = _difference(yaml.safe_load(saved.read_text(encoding="utf-8")), _plain_data(run.config.to_dict()))
        if difference:
            raise ConfigError(f"{run.dir} holds a run of another config ({difference}); "
                              "give the sweep another --out or --runs, or remove that directory")  # fmt: skip
        if (run.dir / MODEL_FILE).is_file():
            return "finished"
        if checkpoint_file(run.dir, LAST_CHECKPOINT).is_file():
            return "resume"
    return "new"


# --- running --------------------------------------------------------------------------------------
def device_slots(jobs: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES of each worker: every visible GPU `jobs` times, or `jobs` CPU workers (None)."""
    import torch

    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give a positive number of runs per device")
    count = torch.cuda.device_count()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",") if d.strip()][:count] if visible else []
    devices = devices or [str(i) for i in range(count)]
    return [d for d in devices for _ in range(jobs)] if devices else [None] * jobs


class Pool:
    """Workers (threads) that take runs from a queue and train each in a `resreg train` subprocess.

    A subprocess per run, not an in-process call: each run starts with a fresh CUDA context,
    allocator, cuDNN autotuner cache and RNG, so nothing one run leaves behind (fragmented memory,
    compile caches, a hung collective) reaches the next; an out-of-memory or a crash fails that run
    only; CUDA_VISIBLE_DEVICES must be set before CUDA starts, i.e. in a new process; and the run
    takes exactly the path `resreg train` takes. The cost, a second or two of start-up per run,
    is small next to a training run. SIGINT and SIGTERM are forwarded to the running trainings,
    which checkpoint and exit; no new run starts after one.
    """

    def __init__(self, slots: list[str | None], report: Callable[[str], None]) -> None:
        self.slots = slots
        self.report = report
        self.stop_signal = 0
        self._lock = threading.RLock()  # reentrant: a second signal may arrive while the first one's handler holds it
        self._active: set[subprocess.Popen] = set()

    def run(self, runs: list[tuple[PlannedRun, str]]) -> dict[Path, str]:
        """Train `runs` ((run, state) pairs); returns each run's outcome: finished, interrupted or failed."""
        todo: queue.SimpleQueue[tuple[PlannedRun, str]] = queue.SimpleQueue()
        for item in runs:
            todo.put(item)
        outcomes: dict[Path, str] = {}
        workers = [threading.Thread(target=self._work, args=(slot, todo, outcomes, len(runs)), daemon=True)
                   for slot in self.slots]  # fmt: skip
        with self._forward_signals():
            for worker in workers:
                worker.start()
            while any(w.is_alive() for w in workers):
                for worker in workers:
                    worker.join(0.2)  # short joins: the main thread must stay free to handle signals
        return outcomes

    def _work(self, slot: str | None, todo: queue.SimpleQueue, outcomes: dict[Path, str], total: int) -> None:
        while True:
            try:
                run, state = todo.get_nowait()
            except queue.Empty:
                return
            env = dict(os.environ) if slot is None else {**os.environ, "CUDA_VISIBLE_DEVICES": slot}
            run.dir.parent.mkdir(parents=True, exist_ok=True)
            command = run.command(state)
            with open(run.log, "a", encoding="utf-8") as log, self._lock:
                if self.stop_signal:
                    return
                log.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
                log.flush()
                # Own session: a Ctrl-C reaches the trainings once, through the forwarding below.
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True)  # fmt: skip
                self._active.add(process)
            where = f" on GPU {slot}" if slot is not None else ""
            self.report(f"{'resuming' if state == 'resume' else 'training'} {run.dir.name}{where}")
            start = time.perf_counter()
            code = process.wait()
            with self._lock:
                self._active.discard(process)
            _add_wall_time(run.record, time.perf_counter() - start)
            outcome = _outcome(run, code)
            outcomes[run.dir] = outcome
            detail = f" (exit {code}: {_last_line(run.log)}; see {run.log})" if outcome == "failed" else ""
            self.report(f"{run.dir.name}: {outcome}{detail} [{len(outcomes)}/{total}]")

    def interrupt(self, signum: int) -> None:
        with self._lock:
            self.stop_signal = signum
            for process in self._active:
                process.send_signal(signum)

    @contextmanager
    def _forward_signals(self) -> Iterator[None]:
        previous = {s: signal.signal(s, lambda signum, _frame: self.interrupt(signum))
                    for s in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _outcome(run: PlannedRun, code: int) -> str:
    if code == 0 and (run.dir / MODEL_FILE).is_file():
        return "finished"
    # resreg train's statuses after Ctrl-C and SIGTERM/SIGUSR1 (checkpoint saved); 143: killed by a bare SIGTERM.
    return "interrupted" if code in (INTERRUPTED, RESUMABLE, 128 + signal.SIGTERM) else "failed"


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no output"


def _add_wall_time(record: Path, seconds: float) -> None:
    """Sum the wall time over attempts (an interrupted run resumed later counts both parts)."""
    state = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {"wall_s": 0.0, "attempts": 0}
    state = {"wall_s": state["wall_s"] + seconds, "attempts": state["attempts"] + 1}
    write_text_atomic(record, json.dumps(state) + "\n")


# --- results --------------------------------------------------------------------------------------
@dataclass
class Cost:
    """A model's size and what one run of its recipe costs."""

    params: int
    macs: int  # forward multiply-adds per image
    images: int  # training images seen by one run (optimizer steps x batch)

    @property
    def train_macs(self) -> int:
        """Forward + backward ~ 3x the forward multiply-adds, per training image (evaluation not counted)."""
        return 3 * self.macs * self.images


class Costs:
    """Cost of each config; the data sets are loaded once per distinct `data:` spec."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def __call__(self, config: RunConfig) -> Cost:
        from resreg.engine.assemble import build_data, build_model  # torch: only when costs are counted
        from resreg.summary import summarize

        registry = get_registry()
        recipe = config.require_recipe(registry)
        key = json.dumps(config.data, sort_keys=True, default=str)
        if key not in self._data:
            self._data[key] = build_data(config, registry)
        data = self._data[key]
        model = build_model(config, data, registry)
        summary = summarize(model, (data.in_chans, *data.image_size))
        steps_per_epoch = max(1, len(data.train) // recipe.batch_size)  # the train loader drops a partial batch
        return Cost(summary.params, summary.macs, recipe.total_steps(steps_per_epoch) * recipe.batch_size)


def final_errors(run_dir: Path) -> dict[str, float]:
    """The last train_error (its last log window) and the last test_error (else val_error) of a run."""
    out: dict[str, float] = {}
    for row in read_json_lines(run_dir / METRICS_FILE):
        for key in ("train_error", "test_error", "val_error"):
            if isinstance(row.get(key), (int, float)):
                out[key] = float(row[key])
    if "test_error" not in out and "val_error" in out:
        out["test_error"] = out["val_error"]
    return out


@dataclass
class GroupResult:
    group: str
    runs: list[PlannedRun]
    finished: list[Path]
    train_error: list[float]  # percent, one per finished seed
    test_error: list[float]
    wall_s: list[float]
    cost: Cost


def collect(runs: list[PlannedRun], costs: Costs) -> list[GroupResult]:
    """One result per group, in plan order, from the run directories as they are now."""

    results: dict[str, GroupResult] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        if run.group not in results:
            results[run.group] = GroupResult(run.group, [], [], [], [], [], costs(run.config))
        result = results[run.group]
        result.runs.append(run)
        if not (run.dir / MODEL_FILE).is_file():
            continue
        errors = final_errors(run.dir)
        result.finished.append(run.dir)
        if "train_error" in errors:
            result.train_error.append(100 * errors["train_error"])
        if "test_error" in errors:
            result.test_error.append(100 * errors["test_error"])
        if run.record.is_file():
            result.wall_s.append(json.loads(run.record.read_text(encoding="utf-8"))["wall_s"])
    return list(results.values())


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
    "group", "seeds", "finished",
    "train_error_pct_mean", "train_error_pct_std", "train_error_pct_min", "train_error_pct_max",
    "test_error_pct_mean", "test_error_pct_std", "test_error_pct_min", "test_error_pct_max",
    "params", "macs", "train_images", "wall_s_mean",
)  # fmt: skip


def csv_rows(results: list[GroupResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        row: dict[str, Any] = {"group": r.group, "seeds": len(r.runs), "finished": len(r.finished)}
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
        lines.append(f"| {r.group} | {len(r.finished)}/{len(r.runs)} | {_spread(r.train_error)} | "
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
    firsts = [r.finished[0] for r in results if r.finished]
    if firsts:
        written.append(plot_runs(firsts, out / CURVES_FILE, title=title))
    for r in results:
        if r.finished:
            written.append(plot_runs(r.finished, out / "curves" / f"{r.group}.png", title=r.group))
    return written


def estimate_table(results: list[GroupResult]) -> str:
    """What `--dry-run` prints: each group's size and its training cost per seed, and the sweep's total."""
    lines = [f"{'group':<40} {'state':<12} {'params':>8} {'MACs':>8} {'images':>9} {'train MACs/seed':>16}"]
    total = 0
    for r in results:
        total += r.cost.train_macs * len(r.runs)
        states = ",".join(sorted({state_of(run) for run in r.runs}))
        lines.append(f"{r.group:<40} {states:<12} {_si(r.cost.params):>8} {_si(r.cost.macs):>8} "
                     f"{_si(r.cost.images):>9} {_si(r.cost.train_macs):>16}")  # fmt: skip
    lines.append(f"total training multiply-adds, all seeds (3 x forward): {_si(total)} "
                 f"({total / 1e15:.3f} PMAC)")  # fmt: skip
    return "\n".join(lines)
