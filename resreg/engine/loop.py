"""The training loop of a run: steps, log windows, evaluations, checkpoints, signals, NaN stops.

`Run` is the object the training hooks receive (`run.dir`, `run.config`, `run.model`, `run.step`).
The loop counts optimizer steps; epoch and batch index follow from the step (`divmod(step,
steps_per_epoch)`), and the loader yields the same batches from any starting point, so a resumed
run continues exactly where the checkpoint left off. Host-device synchronisations happen once per
log window (engine.log_every steps), not per step, so the loop keeps up with a GPU.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from resreg.config.options import EngineOptions, EvalOptions
from resreg.engine import checkpoint, snapshots
from resreg.engine.distributed import Dist, all_max, all_sum
from resreg.engine.evaluate import evaluate
from resreg.engine.metrics_log import MetricsLog
from resreg.engine.objective import Objective
from resreg.engine.precision import Precision
from resreg.engine.progress import Progress
from resreg.engine.stop_signals import STOP_CHECK_EVERY, StopRequest, catch_stop_signals
from resreg.errors import ResregError
from resreg.layout import checkpoint_file
from resreg.schedule import Schedule


class DivergedError(ResregError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class Run:
    """A training run: what hooks see, and everything the loop needs."""

    dir: Path
    config: dict[str, Any]
    model: torch.nn.Module  # the bare model (not the DDP or compiled wrapper): what is saved
    step: int
    total_steps: int
    steps_per_epoch: int
    info: Dist
    options: EngineOptions
    eval_options: EvalOptions
    train_module: torch.nn.Module  # what the loop calls: DDP and/or torch.compile around `model`
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    precision: Precision
    loader: Any  # resreg.data.loader.Loader
    eval_loaders: dict[str, Any]
    eval_every: int
    objective: Objective = field(default_factory=lambda: Objective(loss=F.cross_entropy))
    ema: Any = None  # timm.utils.ModelEmaV3 or None
    hook: Any = None  # pluggy hook relay (rank 0), or None
    best_error: float = math.inf
    log: MetricsLog | None = None
    progress: Progress | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    plugin_state: dict[str, Any] = field(default_factory=dict)  # see RunInfo.plugin_state
    _window: torch.Tensor | None = None  # loss sum, wrong, images of the current log window (on the device)
    _window_start: float = 0.0
    _stop: StopRequest = field(default_factory=StopRequest)
    phase: str = "train"  # or "eval" while evaluating (an out-of-memory error names the batch size to change)

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """What the run evaluates and saves: the EMA of the weights when it keeps one, else the model. The EMA
        copies the model after its record was attached (spec, input, class names), so it carries the record."""
        return self.ema.module if self.ema is not None else self.model

    # --- the loop -------------------------------------------------------------------------------
    def fit(self) -> str:
        """Train to `total_steps`; returns how it ended: finished, or the name of the signal that stopped it."""
        self.call_hook("resreg_run_start", run=self)
        self.progress = Progress(
            self.options.progress, total=self.total_steps, initial=self.step, enabled=self.info.is_main
        )
        self._reset_window()
        self.train_module.train()
        # Loss and images/s long before the first full log window (minutes on ImageNet-sized steps).
        previews = {self.step + 4**k for k in range(8) if 4**k < self.options.log_every}
        say = (lambda message: self.progress.write(message, always=True)) if self.info.is_main else None
        with catch_stop_signals(self._stop, say):
            for images, labels in self._batches():
                self.train_step(images, labels)
                signum = self._stop_requested()
                if signum:
                    self._log_window()  # the checkpoint holds no partial window
                    # This step's evaluation and snapshot, as an uninterrupted run does them: a resume
                    # starts after them, and a stop in the last step ends the run as a finished one.
                    self._after_step()
                    if self.step >= self.total_steps:
                        break
                    if not self._saves_checkpoint(self.step):
                        self.save(checkpoint.LAST)
                    self.progress.write(
                        f"stopped at step {self.step} ({signal.Signals(signum).name}), checkpoint saved: "
                        f"resume with resreg train --resume {self.dir}"
                    )
                    self.progress.close()
                    return signal.Signals(signum).name
                if self.step in previews and not self._closes_window(self.step):
                    self._preview()
                self._after_step()
        self.progress.close()
        return "finished"

    def _batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while self.step < self.total_steps:
            epoch, start = divmod(self.step, self.steps_per_epoch)
            for batch in self.loader.batches(epoch, start):
                yield batch
                if self.step >= self.total_steps:
                    return

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One optimizer step; the loss and error stay on the device until the window ends."""
        lr = self.schedule.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.options.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        logits, loss = self.objective.backward(
            self.train_module, images, labels, step=self.step, precision=self.precision
        )
        scaler = self.precision.scaler
        if self.options.grad_clip > 0:
            scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.grad_clip)
        scaler.step(self.optimizer)
        scaler.update()
        if self.ema is not None:
            self.ema.update(self.model, step=self.step)
        with torch.no_grad():
            n = labels.numel()
            wrong = (logits.argmax(dim=1) != labels).sum()
            self._window += torch.stack([loss.detach().float() * n, wrong.float(), loss.new_tensor(float(n))])
        self.step += 1
        self.progress.step()

    def _saves_checkpoint(self, step: int) -> bool:
        every = self.options.checkpoint_every
        return step >= self.total_steps or (every > 0 and step % every == 0)

    def _closes_window(self, step: int) -> bool:
        # A checkpoint closes the log window first: its loss is checked for NaN before anything is
        # saved, and the checkpoint needs no partial window (a resume then logs exactly the same rows).
        return step % self.options.log_every == 0 or self._saves_checkpoint(step)

    def _after_step(self) -> None:
        step, end = self.step, self.step >= self.total_steps
        save = self._saves_checkpoint(step)
        if self._closes_window(step):
            self._log_window()
        if step % self.eval_every == 0 or end:
            self._evaluate()
        snapshot_steps = self.schedule.cycle_ends() if self.schedule.cycles > 1 else []
        if step in snapshot_steps:
            self._save_snapshot(snapshot_steps.index(step) + 1)
        if save:
            self.save(checkpoint.LAST)

    def _save_snapshot(self, index: int) -> None:
        """The end of a cosine cycle: keep this model as a snapshot-ensemble member (rank 0)."""
        if not self.info.is_main:
            return
        snapshots.save_snapshot(self.dir, self.evaluated_model, index, self.step)
        path = snapshots.write_ensemble_config(self.dir, self.config)
        self.progress.write(f"step {self.step}: snapshot {index} of {self.schedule.cycles} saved; ensemble: {path}")

    # --- metrics --------------------------------------------------------------------------------
    def _reset_window(self) -> None:
        self._window = torch.zeros(3, device=self.info.device)
        self._window_start = time.perf_counter()

    def _preview(self) -> None:
        """Show the figures of the window so far (rank 0's share, no collective); the metrics log waits."""
        if not self.info.is_main:
            return
        loss_sum, wrong, n = self._window.tolist()
        elapsed = time.perf_counter() - self._window_start
        figures = {
            "epoch": self.step / self.steps_per_epoch,
            "train_loss": loss_sum / max(n, 1),
            "train_error": wrong / max(n, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": n * self.info.world_size / max(elapsed, 1e-9),
        }
        self.progress.log(self.step, figures)

    def _log_window(self) -> None:
        loss_sum, wrong, n = all_sum(self.info, self._window).tolist()
        if n == 0:  # nothing trained since the last window (a stop right after it, or only empty batches)
            self._reset_window()  # its time belongs to no later window's images/s
            return
        elapsed = time.perf_counter() - self._window_start
        if not math.isfinite(loss_sum):
            self._diverged(loss_sum)
        metrics = {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "train_loss": loss_sum / n,
            "train_error": wrong / n,
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": n / max(elapsed, 1e-9),
        }
        self.schedule.observe_train(metrics["train_error"])
        self.last_metrics.update(metrics)
        if self.info.is_main:
            self.progress.log(self.step, metrics)
            self.log.append(metrics)
            self.call_hook("resreg_step_end", run=self, metrics={"loss": metrics["train_loss"], **metrics})
        self._reset_window()

    def _diverged(self, value: float) -> None:
        self.progress.close()
        self.call_hook("resreg_run_end", run=self, metrics={**self.last_metrics, "train_loss": value})
        raise DivergedError(
            f"the training loss became {value} by step {self.step} (lr {self.schedule.lr_at(self.step - 1):.4g}); "
            f"stopped, the last good checkpoint is {checkpoint_file(self.dir, checkpoint.LAST)}; "
            "try a lower train.lr, a warm-up (train.warmup) or engine.grad_clip"
        )

    def _evaluate(self) -> None:
        if not self.eval_loaders:
            return
        # The bare model (or its EMA): DDP would try to synchronise buffers, compile would recompile.
        model = self.evaluated_model
        metrics: dict[str, float] = {"step": self.step, "epoch": self.step / self.steps_per_epoch}
        self.phase = "eval"
        for split, loader in self.eval_loaders.items():
            result = evaluate(
                model,
                loader.batches(0),
                self.info,
                self.eval_options,
                autocast=self.precision.autocast(),
                channels_last=self.options.channels_last,
            )
            metrics |= {f"{split}_{k}": v for k, v in result.items()}
        self.phase = "train"
        watched = metrics.get("val_error", metrics.get("test_error", math.inf))
        if "val_error" in metrics:
            self.schedule.observe_eval(metrics["val_error"])
        self.last_metrics.update(metrics)
        if self.info.is_main:
            shown = ", ".join(f"{k} {100 * v:.2f}%" for k, v in metrics.items() if k.endswith("error"))
            self.progress.write(f"step {self.step}: {shown}")
            self.log.append(metrics)
            self.call_hook("resreg_eval_end", run=self, metrics=metrics)
        if watched < self.best_error:
            self.best_error = watched
            self.save(checkpoint.BEST)

    # --- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.precision.scaler.state_dict(),
            "rng": checkpoint.rng_state(),
            "best_error": self.best_error,
        }
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
        return state

    def load_state_dict(self, state: checkpoint.Checkpoint) -> None:
        self.step = state["step"]
        checkpoint.restore_weights(self.model, state, "model")
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.precision.scaler.load_state_dict(state["scaler"])
        checkpoint.set_rng_state(state["rng"])
        self.best_error = state["best_error"]
        if self.ema is not None:
            # An EMA switched on at --resume (engine options may change) averages from the checkpoint's weights,
            # not from the freshly initialised model it was copied from before the checkpoint was loaded.
            checkpoint.restore_weights(self.ema.module, state, "ema" if "ema" in state else "model")

    def save(self, name: str) -> None:
        """Write checkpoints/NAME on rank 0 (every rank has the same weights)."""
        if not self.info.is_main:
            return
        if self.log is not None:  # the rows up to this checkpoint reach the disk with it (a resume keeps them)
            self.log.sync()
        path = checkpoint.save(checkpoint_file(self.dir, name), self.state_dict())
        self.call_hook("resreg_checkpoint_saved", run=self, path=path)

    # --- signals and hooks ----------------------------------------------------------------------
    def _stop_requested(self) -> int:
        """The signal received by any process (0 = none): every rank stops at the same step.

        Under DDP the ranks agree through an all-reduce, read on the host: a device sync, so it is done
        every STOP_CHECK_EVERY steps (the same steps on every rank), not after each one."""
        if not self.info.enabled:
            return self._stop.signum
        if self.step % STOP_CHECK_EVERY and self.step < self.total_steps:
            return 0
        return int(all_max(self.info, torch.tensor([self._stop.signum], device=self.info.device)).item())

    def call_hook(self, name: str, **kwargs: Any) -> None:
        """Call a training callback on every plugin that implements it (rank 0 only)."""
        if self.hook is not None and self.info.is_main:
            getattr(self.hook, name)(**kwargs)
