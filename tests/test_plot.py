"""`resreg plot`: curves of several runs in one figure (thin = train, bold = test), and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from resreg.plot import BOLD, THIN, draw, plot_runs, read_curves


def _run(path: Path, rows: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(scale: float, evaluate: str = "test_error") -> list[dict]:
    rows = []
    for step in range(0, 1000, 50):
        rows.append({"step": step, "epoch": step / 100, "train_loss": 1.0, "train_error": scale / (1 + step / 200)})
        if step % 200 == 0:
            rows.append({"step": step, evaluate: scale / (1 + step / 300), "val_loss": 1.0})
    rows.append({"step": 1000, "train_error": None})  # a NaN step is written as null: skipped, not a crash
    return rows


def resreg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resreg", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_curves_are_percent_against_steps_with_test_preferred_over_val(tmp_path):
    curves = read_curves(_run(tmp_path / "r", _rows(0.5)))
    assert curves.name == "r" and curves.held_out_name == "test_error"
    assert curves.train[0] == (0, 50.0) and len(curves.train) == 20
    assert [s for s, _ in curves.held_out] == [0, 200, 400, 600, 800]
    val_only = read_curves(_run(tmp_path / "v", _rows(0.5, evaluate="val_error")))
    assert val_only.held_out_name == "val_error" and len(val_only.held_out) == 5


def test_plot_draws_each_run_in_its_own_colour_thin_and_bold(tmp_path):
    runs = [_run(tmp_path / "plain20", _rows(0.3)), _run(tmp_path / "plain56", _rows(0.6))]
    out = plot_runs(runs, tmp_path / "fig.png", title="plain nets")
    image = imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 400
    # the figure itself: two colours, each with one thin (train) and one bold (test) line
    figure = draw([read_curves(run) for run in runs])
    axes = figure.axes[0]
    by_colour: dict[str, list[float]] = {}
    for line in axes.get_lines():
        if len(line.get_xdata()):
            by_colour.setdefault(str(line.get_color()), []).append(line.get_linewidth())
    assert sorted(by_colour.values()) == [[THIN, BOLD], [THIN, BOLD]]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["plain20", "plain56"]
    assert axes.get_xlabel() == "iterations" and axes.get_ylabel() == "error (%)"
    plot_runs(runs, tmp_path / "fig.svg")
    assert (tmp_path / "fig.svg").read_text().startswith("<?xml")


def test_cli_writes_curves_png_into_a_single_run_dir(tmp_path):
    run = _run(tmp_path / "runs" / "resnet20", _rows(0.4))
    result = resreg("plot", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(run / "curves.png")
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG")


def _empty(root: Path) -> Path:
    (root / "empty").mkdir()
    return root / "empty"


def _loss_only(root: Path) -> Path:
    return _run(root / "loss_only", [{"step": 1, "train_loss": 2.0}])


def _torn(root: Path) -> Path:
    run = _run(root / "torn", [])
    (run / "metrics.jsonl").write_text('{"step": 1, "train_err')
    return run


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "nowhere", "no such run directory"),
        (_empty, "no metrics.jsonl"),
        (_loss_only, "no train_error, test_error or val_error values"),
        (_torn, "no train_error, test_error or val_error values"),  # a torn line is skipped, as every reader does
    ],
)
def test_a_dir_without_metrics_is_a_one_line_error(tmp_path, make, message):
    good = _run(tmp_path / "good", _rows(0.4))
    bad = make(tmp_path)
    result = resreg("plot", str(good), str(bad), "-o", str(tmp_path / "out.png"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("resreg plot: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and str(bad) in result.stderr
    assert not (tmp_path / "out.png").exists()  # nothing half-drawn


def test_unknown_output_format_is_a_one_line_error(tmp_path):
    result = resreg("plot", str(_run(tmp_path / "r", _rows(0.4))), "-o", "fig.xyz", cwd=tmp_path)
    assert result.returncode == 2 and "unknown image format 'xyz'" in result.stderr and "png" in result.stderr


def test_a_test_curve_of_one_evaluation_is_drawn_as_a_dot(tmp_path):
    rows = [{"step": s, "train_error": 0.5 - s / 1000} for s in range(0, 200, 20)] + [{"step": 200, "test_error": 0.3}]
    run = _run(tmp_path / "short", rows)
    result = resreg("plot", str(run), "-o", str(tmp_path / "short.png"), cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "short.png").is_file(), result.stderr
    # what the picture shows where the single test error lies: the run's colour, not the background
    figure = draw([read_curves(run)])
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    x, y = figure.axes[0].transData.transform((200, 30.0))
    seen = pixels[round(pixels.shape[0] - y), round(x), :3] / 255
    colour = to_rgb(figure.axes[0].get_lines()[-1].get_color())
    assert np.allclose(seen, colour, atol=0.05), (seen, colour)
