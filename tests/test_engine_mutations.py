"""The training loop's bookkeeping, pinned exactly: which windows, evaluations and checkpoints happen at
which step, what their figures are, how a stop signal and a resume continue, what the final model records.

Written from mutation testing `resreg/engine/loop.py` and `resreg/engine/run.py` (docs/testing.md): each
test names a silent bug it catches. Every run trains a 16-pixel ResNet for a few steps in this process
(a fraction of a second), with a hook recorder in place of a plugin.
"""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from tiny_run import TINY, tiny_config

from resreg.config import validate_config
from resreg.engine.run import train
from resreg.errors import ConfigError
from resreg.io import read_json_lines
from resreg.plugins import get_registry
from resreg.schedule import Schedule

STEPS_PER_EPOCH = 8  # 256 images, batch 32


class Recorder:
    """Stands in for the plugins' hook relay (`run.call_hook` calls `getattr(hook, name)(**kwargs)`): records
    each call as (hook, step, figures or file name) and can send this process a signal after a window."""

    def __init__(self, stop_after: int | None = None, signum: int = signal.SIGUSR1) -> None:
        self.calls: list[tuple[str, int, Any]] = []
        self.stop_after, self.signum = stop_after, signum

    def resreg_run_start(self, run: Any) -> None:
        self.calls.append(("start", run.step, None))

    def resreg_step_end(self, run: Any, metrics: dict[str, float]) -> None:
        self.calls.append(("window", run.step, dict(metrics)))
        if run.step == self.stop_after:
            os.kill(os.getpid(), self.signum)

    def resreg_eval_end(self, run: Any, metrics: dict[str, float]) -> None:
        self.calls.append(("eval", run.step, dict(metrics)))

    def resreg_checkpoint_saved(self, run: Any, path: Path) -> None:
        self.calls.append(("saved", run.step, path.name))

    def resreg_run_end(self, run: Any, metrics: dict[str, float]) -> None:
        self.calls.append(("end", run.step, dict(metrics)))

    def of(self, kind: str) -> list[tuple[int, Any]]:
        return [(step, what) for name, step, what in self.calls if name == kind]


def fit(run_dir: Path, recorder: Recorder | None = None, *, resume: bool = False, **sections: Any) -> str:
    return train(tiny_config(**sections), source="tiny", registry=get_registry(), run_dir=run_dir, resume=resume,
                 hook=recorder)  # fmt: skip


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(run_dir / "model.safetensors"))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# --- what happens at which step ---------------------------------------------------------------------
def test_windows_evaluations_and_checkpoints_come_at_their_steps_in_order(tmp_path):
    """log_every 3, eval_every 6, checkpoint_every 6, 12 steps. Kills: the loop stopping a step early or late,
    a window/evaluation/checkpoint skipped or doubled, the last checkpoint saved before the evaluation it
    follows, `best.pt` not saved on the first evaluation."""
    recorder = Recorder()
    assert fit(tmp_path, recorder) == "finished"
    sequence = [(name, step, what if name == "saved" else None) for name, step, what in recorder.calls]
    best_at_12 = [("saved", 12, "best.pt")] if ("saved", 12, "best.pt") in sequence else []
    assert sequence == [
        ("start", 0, None),
        ("window", 3, None),
        ("window", 6, None),
        ("eval", 6, None),
        ("saved", 6, "best.pt"),
        ("saved", 6, "last.pt"),
        ("window", 9, None),
        ("window", 12, None),
        ("eval", 12, None),
        *best_at_12,
        ("saved", 12, "last.pt"),
        ("end", 12, None),
    ]
    # best.pt is written again exactly when the evaluation improved on the best so far
    (_, first), (_, last) = recorder.of("eval")
    assert bool(best_at_12) == (last["val_error"] < first["val_error"])  # the validation split is watched


@pytest.mark.parametrize(("every", "expected"), [(0, [12]), (4, [4, 8, 12]), (5, [5, 10, 12])])
def test_checkpoint_every_saves_last_at_its_multiples_and_at_the_end(tmp_path, every, expected):
    """Kills: `checkpoint_every: 0` saving every step (or never), `%` turned around, the final save dropped."""
    recorder = Recorder()
    fit(tmp_path, recorder, engine={"checkpoint_every": every, "log_every": 1})
    assert [step for step, name in recorder.of("saved") if name == "last.pt"] == expected


def test_a_window_reports_the_mean_of_its_steps_and_the_lr_and_epoch_of_its_last_step(tmp_path):
    """The same training logged every step and every 3 steps: a 3-step row is the mean of the three 1-step rows.
    Kills: the loss summed without the batch size, errors not counted, a window not reset (or reset twice),
    the lr or epoch of another step, images/s of zero."""
    per_step, per_window = Recorder(), Recorder()
    fit(tmp_path / "1", per_step, engine={"log_every": 1, "checkpoint_every": 6})
    fit(tmp_path / "3", per_window, engine={"log_every": 3, "checkpoint_every": 6})
    rows = {step: m for step, m in per_step.of("window")}
    windows = dict(per_window.of("window"))
    assert sorted(rows) == list(range(1, 13)) and sorted(windows) == [3, 6, 9, 12]
    schedule = tiny_config().require_recipe(get_registry()).build_schedule(STEPS_PER_EPOCH)
    assert isinstance(schedule, Schedule)
    for end, window in windows.items():
        steps = range(end - 2, end + 1)
        assert window["train_loss"] == pytest.approx(sum(rows[s]["train_loss"] for s in steps) / 3, rel=1e-5)
        assert window["train_error"] == pytest.approx(sum(rows[s]["train_error"] for s in steps) / 3, rel=1e-6)
        assert window["loss"] == window["train_loss"]
        assert window["step"] == end and window["epoch"] == pytest.approx(end / STEPS_PER_EPOCH)
        assert window["lr"] == pytest.approx(schedule.lr_at(end - 1))  # the lr the window's last step used
        assert window["images_per_s"] > 0
    for row in rows.values():
        assert 0 <= row["train_error"] <= 1 and math.isfinite(row["train_loss"]) and row["train_loss"] > 0
        assert row["train_error"] * 32 == pytest.approx(round(row["train_error"] * 32))  # whole images of 32
    # the metrics log holds the same rows as the hooks saw, evaluation rows between them
    logged = [row for row in read_json_lines(tmp_path / "3" / "metrics.jsonl") if "train_loss" in row]
    assert [row["step"] for row in logged] == [3, 6, 9, 12]
    assert [row["train_loss"] for row in logged] == pytest.approx([windows[s]["train_loss"] for s in (3, 6, 9, 12)])


def test_evaluation_rows_name_their_split_step_and_epoch(tmp_path):
    """Kills: an evaluation row without its step/epoch, the split prefix dropped, the eval figures not kept in
    the run's last metrics (what run_end and the final model get)."""
    recorder = Recorder()
    fit(tmp_path, recorder)
    evals = recorder.of("eval")
    assert [step for step, _ in evals] == [6, 12]
    for step, metrics in evals:
        assert metrics["step"] == step and metrics["epoch"] == pytest.approx(step / STEPS_PER_EPOCH)
        assert {"test_error", "test_loss"} <= metrics.keys() and 0 <= metrics["test_error"] <= 1
    rows = [row for row in read_json_lines(tmp_path / "metrics.jsonl") if "test_error" in row]
    assert [(row["step"], row["test_error"]) for row in rows] == [(s, m["test_error"]) for s, m in evals]
    ((_, end),) = recorder.of("end")
    assert end["test_error"] == evals[-1][1]["test_error"] and end["train_loss"] == recorder.of("window")[-1][1]["loss"]


def test_the_final_model_records_its_step_and_only_its_error_and_loss_figures(tmp_path):
    """Kills: model.safetensors without `step` or `metrics`, metrics keeping lr/epoch/images_per_s, a final
    model written from the wrong weights."""
    recorder = Recorder()
    fit(tmp_path, recorder)
    with safetensors.safe_open(str(tmp_path / "model.safetensors"), "pt") as file:
        metadata = file.metadata()
    assert json.loads(metadata["step"]) == 12
    metrics = json.loads(metadata["metrics"])
    ((_, figures),) = recorder.of("end")  # the run's last figures: windows' and evaluations'
    assert {"lr", "epoch", "step", "images_per_s"} <= figures.keys()
    assert metrics == {k: v for k, v in figures.items() if k.endswith(("error", "loss"))}
    assert {"train_loss", "train_error", "val_error", "test_loss", "test_top5_error"} <= metrics.keys()
    last = read_json_lines(tmp_path / "metrics.jsonl")
    assert metrics["test_error"] == [row for row in last if "test_error" in row][-1]["test_error"]
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert_same_weights(final_weights(tmp_path), {k: v for k, v in state["model"].items()})


def test_a_final_model_rebuilt_at_resume_has_the_figures_the_run_ended_with(tmp_path):
    """A run killed between its last checkpoint and model.safetensors: resumed, it trains no step and writes
    the model with the figures of its metrics.jsonl, top-5 included (the log once kept only the CSV's
    columns, so a rebuilt model and a Hub card lost the top-5 error)."""
    fit(tmp_path)
    with safetensors.safe_open(str(tmp_path / "model.safetensors"), "pt") as file:
        ended = json.loads(file.metadata()["metrics"])
    (tmp_path / "model.safetensors").unlink()
    again = Recorder()
    assert fit(tmp_path, again, resume=True) == "finished"
    assert [name for name, *_ in again.calls] == ["start", "end"]  # no step trained
    with safetensors.safe_open(str(tmp_path / "model.safetensors"), "pt") as file:
        rebuilt = json.loads(file.metadata()["metrics"])
    assert "test_top5_error" in ended and rebuilt == pytest.approx(ended)


# --- stops and resumes, in this process -----------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_a_stop_signal_ends_the_next_step_with_a_checkpoint_and_resume_reaches_the_same_weights(
    tmp_path, capsys, signum
):
    """A signal after the window ending at step 3 stops the run at step 4: the partial window is logged, last.pt
    holds step 4, the run returns the signal's name; --resume starts at step 4, trains only steps 5-12 and ends
    with the uninterrupted run's weights. Kills: the stop ignored, the checkpoint not saved (or at the wrong
    step), the partial window lost, the resume not loading the checkpoint, the return value."""
    fit(tmp_path / "whole")
    capsys.readouterr()
    stopped = Recorder(stop_after=3, signum=signum)
    outcome = fit(tmp_path / "run", stopped, engine={"log_every": 3, "checkpoint_every": 6})
    assert outcome == signal.Signals(signum).name
    # acknowledged at once, even with progress none: a user who pressed a key or sent a kill sees it arrive
    assert f"{signal.Signals(signum).name}: stopping after this step, with a checkpoint" in capsys.readouterr().err
    assert [step for step, _ in stopped.of("window")] == [3, 4]
    assert stopped.of("saved") == [(4, "last.pt")] and [step for step, _ in stopped.of("end")] == [4]
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["step"] == 4
    assert not (tmp_path / "run" / "model.safetensors").exists()

    resumed = Recorder()
    assert fit(tmp_path / "run", resumed, resume=True) == "finished"
    assert resumed.calls[0] == ("start", 4, None)
    assert [step for step, _ in resumed.of("window")] == [6, 9, 12]
    assert_same_weights(final_weights(tmp_path / "run"), final_weights(tmp_path / "whole"))
    rows = read_json_lines(tmp_path / "run" / "metrics.jsonl")
    assert [row["step"] for row in rows if "train_loss" in row] == [3, 4, 6, 9, 12]


def test_a_stop_on_an_evaluation_step_evaluates_before_it_saves(tmp_path):
    """The signal lands on step 6 (an evaluation and checkpoint step): the evaluation runs, then last.pt; the
    resumed run does not evaluate step 6 again. Kills: the stop skipping `_after_step`, a second save."""
    stopped = Recorder(stop_after=5)
    fit(tmp_path, stopped, engine={"log_every": 1, "checkpoint_every": 6})
    assert [step for step, _ in stopped.of("eval")] == [6]
    assert [(step, name) for step, name in stopped.of("saved")] == [(6, "best.pt"), (6, "last.pt")]
    resumed = Recorder()
    fit(tmp_path, resumed, resume=True, engine={"log_every": 1, "checkpoint_every": 6})
    assert [step for step, _ in resumed.of("eval")] == [12]


def test_a_stop_in_the_last_step_ends_the_run_as_finished(tmp_path):
    """Kills: a stop at the last step returning the signal's name, or leaving no final model."""
    recorder = Recorder(stop_after=11)
    assert fit(tmp_path, recorder, engine={"log_every": 1, "checkpoint_every": 6}) == "finished"
    assert (tmp_path / "model.safetensors").is_file() and recorder.calls[-1][:2] == ("end", 12)


def test_resuming_a_finished_run_does_nothing_and_a_longer_length_continues_it(tmp_path, capsys):
    """Kills: a finished run trained again from its checkpoint, the 'nothing to do' line, a longer
    train.length not continuing from step 12."""
    fit(tmp_path)
    weights = final_weights(tmp_path)
    again = Recorder()
    assert fit(tmp_path, again, resume=True) == "finished"
    err = capsys.readouterr().err
    assert again.calls == [] and "finished at step 12: nothing to do (a longer train.length continues it)" in err
    assert_same_weights(final_weights(tmp_path), weights)

    longer = Recorder()
    assert fit(tmp_path, longer, resume=True, train={**TINY["train"], "length": 15}) == "finished"
    assert longer.calls[0] == ("start", 12, None) and longer.calls[-1][:2] == ("end", 15)


def test_a_stopped_run_resumed_with_a_length_before_its_checkpoint_is_refused(tmp_path):
    """Stopped at step 10, resumed with train.length 9: one line, not a run that 'finishes' at step 10."""
    fit(tmp_path, Recorder(stop_after=9))
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["step"] == 10
    with pytest.raises(ConfigError, match=r"checkpoint is at step 10, past this config's last step 9"):
        fit(tmp_path, resume=True, train={**TINY["train"], "length": 9})
    assert fit(tmp_path, resume=True, train={**TINY["train"], "length": 10}) == "finished"  # exactly there: ends
    with safetensors.safe_open(str(tmp_path / "model.safetensors"), "pt") as file:
        assert json.loads(file.metadata()["step"]) == 10  # no step trained past the end


# --- what the user reads ------------------------------------------------------------------------------
def test_the_banner_names_the_run_model_data_and_schedule(tmp_path, capsys):
    """Kills: the banner's run dir, model name, batch size, checkpoint interval or resume step lost."""
    fit(tmp_path / "a", engine={"progress": "lines"})
    err = capsys.readouterr().err
    assert f"resreg train: run dir {tmp_path / 'a'}" in err
    assert "  model          resnet: " in err and " parameters, " in err and "MACs per 3x16x16 image" in err
    assert "batch 32" in err and "12 (1.5 epochs of 8); evaluation every 6, checkpoint every 6 steps" in err
    assert "resuming" not in err
    assert "  precision      " in err and "  threads        " in err  # the engine's choices, not only the loader's
    assert f"; model {tmp_path / 'a' / 'model.safetensors'}; checkpoints " in err

    stopped = Recorder(stop_after=3)
    fit(tmp_path / "b", stopped, engine={"progress": "lines", "checkpoint_every": 0})
    fit(tmp_path / "b", resume=True, engine={"progress": "lines", "checkpoint_every": 0})
    err = capsys.readouterr().err
    assert "stopped at step 4 (SIGUSR1), checkpoint saved: resume with resreg train --resume" in err
    assert ", resuming at step 4; evaluation every 6, checkpoint at evaluations" in err
    assert "resreg train: finished at step 12 in " in err and "test error " in err


def test_previews_show_the_first_steps_before_the_first_window(tmp_path, capsys):
    """With log_every 20 the first window ends at step 20; previews show steps 1, 4 and 16 (powers of 4 below
    log_every) on rank 0, without writing metrics rows. Kills: previews at other steps (64 is not one), a
    preview's loss or error of another window, previews appended to metrics.jsonl."""
    length = {**TINY["train"], "length": 70}
    fit(tmp_path / "preview", train=length, engine={"progress": "lines", "log_every": 20, "checkpoint_every": 0})
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ") and "/70 " in line]
    assert [line.split()[1] for line in lines] == ["1/70", "4/70", "16/70", "20/70", "40/70", "60/70", "70/70"]
    rows = read_json_lines(tmp_path / "preview" / "metrics.jsonl")
    assert [row["step"] for row in rows if "train_loss" in row] == [20, 40, 60, 70]

    per_step = Recorder()
    fit(tmp_path / "steps", per_step, train=length, engine={"log_every": 1, "checkpoint_every": 0})
    rows = [m for _, m in per_step.of("window")]
    assert f"loss {rows[0]['train_loss']:.4f} err {100 * rows[0]['train_error']:.2f}%" in lines[0]  # step 1 alone
    loss, error = (sum(row[key] for row in rows[:4]) / 4 for key in ("train_loss", "train_error"))
    assert f"loss {loss:.4f} err {100 * error:.2f}%" in lines[1]  # step 4: the mean of steps 1-4


# --- the figures against an independent computation ---------------------------------------------------
class FakeClock:
    """time.perf_counter for one module, moving `tick` seconds at each call: images/s becomes exact."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 1000.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


def test_images_per_second_is_the_windows_images_over_its_time(tmp_path, monkeypatch, capsys):
    """The loop reads the clock at a window's start and end (and at each preview): with a clock moving 0.25 s a
    read, a 1-step window is 32 images in 0.25 s. The previews at steps 1 and 4 of an 8-step window count the
    images since the window began. Kills: elapsed time added instead of subtracted, images/s inverted, a floor
    of one second on the elapsed time, the run's total time mis-measured."""
    monkeypatch.setattr("resreg.engine.loop.time", FakeClock(0.25))
    recorder = Recorder()
    fit(tmp_path / "a", recorder, train={**TINY["train"], "length": 3}, engine={"log_every": 1})
    assert [m["images_per_s"] for _, m in recorder.of("window")] == [128.0, 128.0, 128.0]

    monkeypatch.setattr("resreg.engine.loop.time", FakeClock(0.25))
    monkeypatch.setattr("resreg.engine.run.time", FakeClock(61.0))
    recorder = Recorder()
    fit(tmp_path / "b", recorder, train={**TINY["train"], "length": 8},
        engine={"log_every": 8, "checkpoint_every": 0, "progress": "lines"})  # fmt: skip
    err = capsys.readouterr().err
    previews = [line for line in err.splitlines() if line.startswith(("step 1/8 ", "step 4/8 "))]
    assert [line.split("img/s ")[1].split()[0] for line in previews] == ["128", "256"]  # 32 / 0.25, 128 / 0.5
    assert "epoch 0.12 " in previews[0] and "epoch 0.50 " in previews[1]
    ((_, window),) = recorder.of("window")
    assert window["images_per_s"] == pytest.approx(256 / 0.75)
    assert "resreg train: finished at step 8 in 0:01:01: " in err


def test_each_steps_loss_and_error_are_the_models_on_the_batch_it_trained_on(tmp_path):
    """With an lr too small to move fp32 weights, every step's model is the final one: each 1-step row must be
    the label-smoothed cross-entropy and the top-1 error of that model (in train mode) on the batch the loop
    was given, and an epoch's batches are a shuffle of the whole training set, another each epoch. Kills: the
    error counting right answers, argmax over the wrong dimension, the loss scaled, the loader not in
    training mode."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Spy(Recorder):
        def resreg_run_start(self, run: Any) -> None:
            super().resreg_run_start(run)
            batches = run.loader.batches

            def recorded(epoch: int, start: int = 0):
                for images, labels in batches(epoch, start):
                    seen.append((images.clone(), labels.clone()))
                    yield images, labels

            run.loader.batches = recorded

    spy = Spy()
    fit(tmp_path, spy, train={**TINY["train"], "length": 16, "lr": 1e-30},
        engine={"log_every": 1, "precision": "fp32", "channels_last": False})  # fmt: skip
    from resreg import load_model

    model = load_model(str(tmp_path / "model.safetensors")).train()
    rows = [m for _, m in spy.of("window")]
    assert len(seen) == len(rows) == 16
    with torch.no_grad():
        for (images, labels), row in zip(seen, rows, strict=True):
            logits = model(images)
            loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
            assert row["train_loss"] == pytest.approx(loss.item(), rel=1e-4)
            assert row["train_error"] == (logits.argmax(dim=1) != labels).float().mean().item()
    epochs = [torch.cat([labels for _, labels in seen[e * 8 : (e + 1) * 8]]) for e in (0, 1)]
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled
    assert torch.equal(epochs[0].sort().values, epochs[1].sort().values)  # each the whole set


def test_gradient_clipping_is_off_at_zero_and_changes_the_step_when_on(tmp_path):
    """Kills: clipping at a norm of 0 (no learning) when it is off, a threshold of 1 instead of 0."""
    short = {**TINY["train"], "length": 3}
    for name, clip in (("off", 0.0), ("huge", 1e9), ("tight", 0.5)):
        fit(tmp_path / name, train=short, engine={"grad_clip": clip, "precision": "fp32"})
    assert_same_weights(final_weights(tmp_path / "off"), final_weights(tmp_path / "huge"))
    tight, off = final_weights(tmp_path / "tight"), final_weights(tmp_path / "off")
    assert any(not torch.equal(tight[k], off[k]) for k in off)


def test_ema_decay_is_the_configured_one_and_a_run_without_it_keeps_none(tmp_path):
    """Kills: timm's default decay instead of engine.ema, an EMA kept (and checkpointed) at ema 0."""
    short = {**TINY["train"], "length": 3}
    fit(tmp_path / "none", train=short)
    assert "ema" not in torch.load(tmp_path / "none" / "checkpoints" / "last.pt", weights_only=True)
    fit(tmp_path / "half", train=short, engine={"ema": 0.5})
    fit(tmp_path / "slow", train=short, engine={"ema": 0.9})
    half, slow = final_weights(tmp_path / "half"), final_weights(tmp_path / "slow")
    assert any(not torch.equal(half[k], slow[k]) for k in half if k.endswith("weight"))


def test_an_ema_turned_on_at_resume_starts_from_the_checkpoints_weights(tmp_path):
    """engine options may change on --resume; an EMA switched on there must average from the checkpoint's
    weights, not from the freshly initialised model it was copied from before the checkpoint loaded."""
    fit(tmp_path, Recorder(stop_after=3))
    starts: list[bool] = []

    class Check(Recorder):
        def resreg_run_start(self, run: Any) -> None:
            model, ema = run.model.state_dict(), run.ema.module.state_dict()
            starts.append(all(torch.equal(model[k], ema[k]) for k in model))

    fit(tmp_path, Check(), resume=True, engine={"ema": 0.9})
    assert starts == [True]


@pytest.mark.parametrize(("every", "expected"), [(5, [5, 10, 12]), (12, [12]), (20, [12])])
def test_evaluations_come_every_eval_every_steps_and_at_the_end(tmp_path, every, expected):
    recorder = Recorder()
    fit(tmp_path, recorder, train={**TINY["train"], "eval_every": every})
    assert [step for step, _ in recorder.of("eval")] == expected


def test_best_pt_is_saved_exactly_when_the_val_error_reaches_a_new_low(tmp_path):
    """Evaluated every step: best.pt follows the validation error (not the test error), strictly lower only.
    Kills: best chosen on the test error, ties saved again, best never saved."""
    recorder = Recorder()
    fit(tmp_path, recorder, train={**TINY["train"], "eval_every": 1})
    lows, best = [], math.inf
    for step, metrics in recorder.of("eval"):
        if metrics["val_error"] < best:
            lows.append(step)
            best = metrics["val_error"]
    assert [step for step, name in recorder.of("saved") if name == "best.pt"] == lows
    state = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert state["step"] == lows[-1] and state["best_error"] == best


def test_the_test_error_is_watched_when_no_val_split_is_evaluated(tmp_path):
    recorder = Recorder()
    fit(tmp_path, recorder, eval={"splits": ["test"]})
    assert [step for step, name in recorder.of("saved") if name == "best.pt"][:1] == [6]


def test_a_plateau_schedule_hears_every_validation_error(tmp_path):
    """The lr drops after `plateau_patience` evaluations without a better val error: replaying the run's val
    errors into the schedule gives the lr the windows report. Kills: evaluations not passed to the schedule."""
    recorder = Recorder()
    schedule_section = {"warmup": 0, "decay": "step", "milestones": [], "plateau_patience": 1, "gamma": 0.5}
    fit(tmp_path, recorder, train={**TINY["train"], "eval_every": 1, "schedule": schedule_section},
        engine={"log_every": 1})  # fmt: skip
    reference = tiny_config(train={**TINY["train"], "eval_every": 1, "schedule": schedule_section}).require_recipe(
        get_registry()).build_schedule(STEPS_PER_EPOCH)  # fmt: skip
    errors = dict(recorder.of("eval"))
    for step, window in recorder.of("window"):
        assert window["lr"] == pytest.approx(reference.lr_at(step - 1)), step
        reference.observe_train(window["train_error"])
        reference.observe_eval(errors[step]["val_error"])
    assert reference.plateau_drops >= 1  # the test saw at least one drop


def test_an_evaluation_prints_its_errors_on_one_line(tmp_path, capsys):
    recorder = Recorder()
    fit(tmp_path, recorder, engine={"progress": "lines"})
    err = capsys.readouterr().err.splitlines()
    for step, metrics in recorder.of("eval"):
        shown = ", ".join(f"{k} {100 * v:.2f}%" for k, v in metrics.items() if k.endswith("error"))
        assert f"step {step}: {shown}" in err and "val_error" in shown and "test_error" in shown


def test_a_diverged_run_names_its_step_and_lr_and_tells_the_hooks(tmp_path):
    recorder = Recorder()
    with pytest.raises(Exception, match="the training loss became") as raised:
        fit(tmp_path, recorder, train={**TINY["train"], "lr": 1e30}, engine={"log_every": 1, "checkpoint_every": 1})
    ((step, metrics),) = recorder.of("end")
    schedule = tiny_config(train={**TINY["train"], "lr": 1e30}).require_recipe(get_registry()).build_schedule(8)
    assert str(raised.value) == (
        f"the training loss became {metrics['train_loss']} by step {step} (lr {schedule.lr_at(step - 1):.4g}); "
        f"stopped, the last good checkpoint is {tmp_path / 'checkpoints' / 'last.pt'}; "
        "try a lower train.lr, a warm-up (train.warmup) or engine.grad_clip"
    )
    assert not math.isfinite(metrics["train_loss"])


# --- run.py: directories, options, errors -------------------------------------------------------------------
def test_without_a_run_dir_the_run_goes_to_runs_name_and_never_over_an_earlier_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        train(tiny_config(train={**TINY["train"], "length": 1}), source="configs/x.yaml", registry=get_registry())
    nameless = {k: v for k, v in TINY.items() if k != "name"}
    config = validate_config({**nameless, "train": {**TINY["train"], "length": 1}}, "x", get_registry())
    train(config, source="configs/cifar10/x.yaml", registry=get_registry())  # named after the file
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["cifar10-x", "tiny", "tiny-2"]
    with pytest.raises(ConfigError):  # the default is not to overwrite a run
        fit(tmp_path / "runs" / "tiny", train={**TINY["train"], "length": 1})


def test_engine_threads_and_determinism_reach_torch_and_cuda_settings_stay_untouched_on_cpu(tmp_path, monkeypatch):
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    tf32 = torch.backends.cuda.matmul.allow_tf32
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        other = threads % 2 + 1  # 1 or 2, not what torch has now (mutmut runs with OMP_NUM_THREADS=1)
        fit(tmp_path, train={**TINY["train"], "length": 1}, engine={"threads": other, "deterministic": True})
        assert torch.get_num_threads() == other and torch.are_deterministic_algorithms_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8" and torch.backends.cudnn.deterministic
        assert torch.backends.cudnn.benchmark == benchmark and torch.backends.cuda.matmul.allow_tf32 == tf32
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


@pytest.mark.parametrize("phase", ["train", "eval"])
def test_out_of_memory_names_the_batch_size_of_the_phase_it_happened_in(tmp_path, monkeypatch, phase):
    from resreg.errors import ResregError

    def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    if phase == "eval":
        monkeypatch.setattr("resreg.engine.loop.evaluate", out_of_memory)
        recorder, key, size = None, "eval.batch_size", 256
    else:
        recorder, key, size = Recorder(), "train.batch_size", 32
        recorder.resreg_step_end = out_of_memory  # type: ignore[method-assign]
    with pytest.raises(ResregError) as raised:
        fit(tmp_path, recorder)
    assert str(raised.value) == (
        f"out of memory on cpu at {key}={size} (CUDA out of memory. Tried to allocate 2.00 GiB); try {key}={size // 2}"
    )


def test_a_run_resumed_after_a_crash_drops_the_rows_logged_after_its_checkpoint(tmp_path):
    """A process killed after logging step 9 but before its next checkpoint leaves rows past last.pt (step 6):
    the resumed run logs steps 9 and 12 once each. Kills: the metrics log not told the resume step."""

    class KeepSix(Recorder):
        def resreg_checkpoint_saved(self, run: Any, path: Path) -> None:
            if run.step == 6 and path.name == "last.pt":
                (tmp_path / "six.pt").write_bytes(path.read_bytes())

    fit(tmp_path / "run", KeepSix(stop_after=9), engine={"log_every": 3, "checkpoint_every": 6})
    (tmp_path / "six.pt").replace(tmp_path / "run" / "checkpoints" / "last.pt")  # as if killed after step 9's row
    resumed = Recorder()
    fit(tmp_path / "run", resumed, resume=True)
    assert resumed.calls[0] == ("start", 6, None)
    rows = read_json_lines(tmp_path / "run" / "metrics.jsonl")
    assert [row["step"] for row in rows if "train_loss" in row] == [3, 6, 9, 12]


def test_a_snapshot_run_saves_each_cycles_model_and_a_plain_run_none(tmp_path, capsys):
    fit(tmp_path / "plain")
    assert not (tmp_path / "plain" / "snapshots").exists() and not (tmp_path / "plain" / "ensemble.yaml").exists()
    fit(tmp_path / "two", train={**TINY["train"], "snapshots": 2, "schedule": {"warmup": 0, "decay": "cosine"}},
        engine={"progress": "lines"})  # fmt: skip
    err = capsys.readouterr().err
    for index, step in ((1, 6), (2, 12)):
        assert f"step {step}: snapshot {index} of 2 saved; ensemble: {tmp_path / 'two' / 'ensemble.yaml'}" in err
    paths = sorted((tmp_path / "two" / "snapshots").glob("*.safetensors"))
    assert [p.name for p in paths] == ["snapshot1.safetensors", "snapshot2.safetensors"]
    steps = []
    for path in paths:
        with safetensors.safe_open(str(path), "pt") as file:
            steps.append(json.loads(file.metadata()["step"]))
    assert steps == [6, 12] and (tmp_path / "two" / "ensemble.yaml").is_file()


def test_the_runs_evaluation_is_the_one_resreg_eval_gives_its_model(tmp_path):
    """The loop evaluates under the run's autocast (bf16 here): its last test figures are what `resreg eval`
    computes for the final model. Kills: the loop's evaluation without the run's autocast (fp32 figures)."""
    from resreg import load_model
    from resreg.engine.evaluate import evaluate_config

    recorder = Recorder()
    engine = {"precision": "bf16", "channels_last": False}
    fit(tmp_path, recorder, train={**TINY["train"], "length": 6}, engine=engine)
    ((_, last),) = recorder.of("eval")
    model = load_model(str(tmp_path / "model.safetensors"))
    config = tiny_config(train={**TINY["train"], "length": 6}, engine=engine)
    again = evaluate_config(config, get_registry(), model=model)
    assert again["test_loss"] == pytest.approx(last["test_loss"], rel=1e-6)
    assert again["test_error"] == last["test_error"]


def test_a_run_that_mixes_and_erases_resumes_to_the_uninterrupted_runs_weights(tmp_path):
    """Mixup, CutMix and random erasing draw from (seed, step): a run stopped at step 4 and resumed makes the
    same draws for steps 5-12 as an uninterrupted run. Kills: the step not passed to the objective."""
    mixing = {**TINY["train"], "augment": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "random_erasing": 0.5}}
    fit(tmp_path / "whole", train=mixing)
    fit(tmp_path / "run", Recorder(stop_after=3), train=mixing)
    fit(tmp_path / "run", resume=True, train=mixing)
    assert_same_weights(final_weights(tmp_path / "run"), final_weights(tmp_path / "whole"))


def test_a_plateau_rule_without_a_val_split_evaluated_is_refused_naming_the_data_set(tmp_path):
    plateau = {**TINY["train"], "schedule": {"warmup": 0, "decay": "step", "milestones": [], "plateau_patience": 2}}
    with pytest.raises(ConfigError, match=r"but eval.splits evaluates test of data set 'synthetic'; give the"):
        fit(tmp_path, train=plateau, eval={"splits": ["test"]})


def test_a_plateau_rule_on_a_data_set_with_no_val_split_is_refused_at_training_naming_it(tmp_path):
    """eval.splits unset: validation cannot know the splits; training finds none to watch and names the data set."""
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "images" / "train" / label).mkdir(parents=True)
        Image.new("RGB", (16, 16)).save(tmp_path / "images" / "train" / label / "0.png")
    folder = {"type": "imagefolder", "root": str(tmp_path / "images"), "val_dir": "", "image_size": 16, "workers": 0}
    plateau = {**TINY["train"], "batch_size": 2, "schedule": {"warmup": 0, "decay": "step", "milestones": [],
                                                              "plateau_patience": 2}}  # fmt: skip
    config = validate_config({**TINY, "data": folder, "train": plateau}, "tiny", get_registry())
    with pytest.raises(ConfigError, match=r"but eval.splits evaluates nothing of data set 'imagefolder'; give the"):
        train(config, source="tiny", registry=get_registry(), run_dir=tmp_path / "run")


def test_a_teacher_changes_the_students_training(tmp_path):
    """Distillation from a run's model: the student ends elsewhere than without a teacher. Kills: the teacher
    not loaded, or not handed to the objective."""
    short = {**TINY["train"], "length": 3}
    fit(tmp_path / "teacher", train=short)
    fit(tmp_path / "alone", train=short)
    fit(tmp_path / "taught", train={**short, "teacher": {"source": str(tmp_path / "teacher"), "weight": 0.9}})
    alone, taught = final_weights(tmp_path / "alone"), final_weights(tmp_path / "taught")
    assert any(not torch.equal(alone[k], taught[k]) for k in alone)
    assert not any("teacher" in key for key in taught)  # nothing of the teacher is saved with the student


def test_a_length_in_epochs_is_epochs_times_the_loaders_batches(tmp_path):
    recorder = Recorder()
    fit(tmp_path, recorder, train={**TINY["train"], "unit": "epoch", "length": 1.5, "eval_every": 1})
    assert recorder.calls[-1][:2] == ("end", 12) and [step for step, _ in recorder.of("eval")] == [8, 12]


def test_progress_none_prints_no_banner_and_no_final_line(tmp_path, capsys):
    fit(tmp_path)
    assert capsys.readouterr().err == ""


def test_training_builds_from_the_registry_it_is_given(tmp_path):
    """A registry other than the process-wide one (a host application's, or a test's): a block registered
    only there trains. Kills: the model built from the default registry instead of the one passed."""
    from resreg.plugins import Plugins

    plugins = Plugins()
    plugins.load_entry_points()
    registry = plugins.registry
    registry.register("block", "basic_only_here", registry.get("block", "basic").obj)
    spec = {**TINY, "model": {**TINY["model"], "block": "basic_only_here"}, "train": {**TINY["train"], "length": 2}}
    config = validate_config(spec, "tiny", registry)
    assert train(config, source="tiny", registry=registry, run_dir=tmp_path) == "finished"
    assert ("block", "basic_only_here") not in get_registry()


def test_a_config_without_a_recipe_is_refused_naming_the_recipes_it_could_use(tmp_path):
    config = validate_config({k: v for k, v in TINY.items() if k != "train"}, "tiny", get_registry())
    with pytest.raises(ConfigError, match=r"^train: missing: name a recipe \(known: .*\bfast\b"):
        train(config, source="tiny", registry=get_registry(), run_dir=tmp_path)
