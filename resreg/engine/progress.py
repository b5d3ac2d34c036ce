"""Progress of a run: a tqdm bar on a terminal, plain periodic lines in logs (CI, nohup, Slurm)."""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm


class Progress:
    """Shows iteration, loss, lr, images/s and ETA; `mode` is auto, bar, lines or none."""

    def __init__(self, mode: str, *, total: int, initial: int, enabled: bool = True) -> None:
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.enabled = enabled
        self.mode = mode if enabled else "none"
        self.total = total
        self.start_step, self.start_time = initial, time.perf_counter()
        self.bar = (
            tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr)
            if self.mode == "bar"
            else None
        )

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """A log window ended: refresh the bar's figures, or print one line."""
        figures = {
            "loss": f"{metrics['train_loss']:.4f}",
            "err": f"{100 * metrics['train_error']:.2f}%",
            "lr": f"{metrics['lr']:.4g}",
            "img/s": f"{metrics['images_per_s']:.0f}",
        }
        if self.bar is not None:
            self.bar.set_postfix(figures, refresh=False)
        elif self.mode == "lines":
            done = step - self.start_step
            elapsed = time.perf_counter() - self.start_time
            eta = elapsed / done * (self.total - step) if done else 0.0
            text = " ".join(f"{k} {v}" for k, v in figures.items())
            self.write(f"step {step}/{self.total} epoch {metrics['epoch']:.2f} {text} eta {_clock(eta)}")

    def write(self, message: str, *, always: bool = False) -> None:
        """A line that does not break the bar (evaluations, checkpoints, warnings); `always` even with progress none."""
        if self.mode == "none" and not (always and self.enabled):
            return
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
