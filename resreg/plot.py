"""Training curves of one or more runs in one figure, in the style of the ResNet paper's Figures 1, 4 and 6.

Each run gets one colour; its training error is a thin line and its test error a bold one, against
optimizer steps ("iterations"). Errors are read from `RUN_DIR/metrics.jsonl` (written by
`resreg train`): `train_error` rows come from the log windows, `test_error` (or `val_error`, when
the run evaluated no test split) from the evaluations.

The figure is drawn on a bare `matplotlib.figure.Figure` (Agg canvas), never through pyplot, so it
works without a display and leaves matplotlib's global backend alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.errors import ConfigError, DataError
from resreg.io import atomic_path, read_json_lines
from resreg.layout import METRICS_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: the bold curve: the first of these a run recorded
HELD_OUT = ("test_error", "val_error")
THIN, BOLD = 0.8, 2.4  # line widths in points, close to the paper's thin/bold contrast


@dataclass
class Curves:
    """The error curves of one run, as (step, error in %) pairs."""

    name: str
    train: list[tuple[int, float]] = field(default_factory=list)
    held_out: list[tuple[int, float]] = field(default_factory=list)
    held_out_name: str = "test_error"


def read_curves(run_dir: Path) -> Curves:
    """The curves of a run directory; a `DataError` when it has no metrics or no error in them."""
    path = run_dir / METRICS_FILE
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory (give the directory `resreg train` wrote)")
    if not path.is_file():
        raise DataError(f"{run_dir}: no {METRICS_FILE} (not a run directory of resreg train, or no step logged yet)")
    rows = read_json_lines(path)
    curves = Curves(run_dir.resolve().name)
    curves.train = _series(rows, "train_error")
    for key in HELD_OUT:
        curves.held_out, curves.held_out_name = _series(rows, key), key
        if curves.held_out:
            break
    if not curves.train and not curves.held_out:
        raise DataError(f"{path}: no train_error, test_error or val_error values to plot")
    return curves


def _series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, percent) of the rows holding a number under `key` (non-finite values are written as null)."""
    return [
        (int(row["step"]), 100.0 * float(row[key]))
        for row in rows
        if isinstance(row.get(key), (int, float)) and isinstance(row.get("step"), int)
    ]


def plot_runs(
    run_dirs: Sequence[Path], out: Path, *, title: str | None = None, names: Sequence[str] | None = None
) -> Path:
    """Draw the curves of `run_dirs` into `out` (the format follows its suffix: .png, .pdf, .svg), each named
    in the legend by `names` (default: its directory's name)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    kind = out.suffix.lstrip(".").lower()
    formats = FigureCanvasAgg.get_supported_filetypes()
    if kind not in formats:
        raise ConfigError(f"{out}: unknown image format {kind!r}; valid suffixes: {', '.join(sorted(formats))}")
    runs = [read_curves(Path(d)) for d in run_dirs]  # every dir is checked before anything is drawn
    if names is not None:
        for run, name in zip(runs, names, strict=True):
            run.name = name
    elif len({r.name for r in runs}) < len(runs):  # runs/a/seed1 and runs/b/seed1: show the paths as given
        for run, run_dir in zip(runs, run_dirs, strict=True):
            run.name = str(run_dir)
    figure = draw(runs, title=title)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format=kind, dpi=150)
    return out


def draw(runs: Sequence[Curves], *, title: str | None = None) -> Figure:
    """The figure: one colour per run, its training error thin and its test error bold."""
    from matplotlib import rcParams
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)  # a pyplot-free figure needs a canvas to render on: Agg, no display involved
    axes = figure.add_subplot()
    palette = rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        colour = palette[i % len(palette)]  # one colour per run: its thin and bold lines belong together
        if run.train:
            _curve(axes, run.train, color=colour, linewidth=THIN)
        # a run without evaluations still gets its legend entry
        _curve(axes, run.held_out, color=colour, linewidth=BOLD, label=run.name)
    held_out = {r.held_out_name.removesuffix("_error") for r in runs if r.held_out}
    axes.set_xlabel("iterations")
    axes.set_ylabel("error (%)")
    axes.set_ylim(bottom=0)
    axes.grid(True, linewidth=0.3, alpha=0.5)
    axes.legend(title=f"thin: train, bold: {'/'.join(sorted(held_out)) or 'test'}", fontsize="small")
    if title:
        axes.set_title(title)
    return figure


def _curve(axes: Any, points: list[tuple[int, float]], **style: Any) -> None:
    """A line through `points`; a single point (a run evaluated once) is a dot, as a line through it draws nothing."""
    steps, errors = zip(*points, strict=True) if points else ((), ())
    axes.plot(steps, errors, marker="o" if len(points) == 1 else "", markersize=style["linewidth"] * 2.5, **style)
