"""The learning rate as a function of the optimizer step, with the feedback rules of the papers.

Three rules beyond a fixed curve come from He et al. 2015: the ResNet-110 warm-up (a small lr until
the training error falls below a threshold), and on ImageNet dividing the lr by 10 when the
validation error stops improving (plateau). Both depend on metrics, so the schedule has state that
a checkpoint saves (`state_dict`) and a resume restores: a resumed run takes the same lr path.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

#: how the lr falls after the warm-up
Decay = Literal["step", "cosine", "linear", "constant"]


@dataclass(kw_only=True)
class LrRules:
    """The rules of a schedule that do not depend on what it counts in: shared by the recipe's
    `train.schedule` section (which counts in recipe units) and `Schedule` (which counts steps).

    Args:
        decay: step (multiply by gamma at each milestone), cosine, linear (to 0 at the end), or constant.
        gamma: the step and plateau factor.
        warmup_lr: a constant lr used until the training error first falls below warmup_until_error (ResNet-110).
        warmup_until_error: the training-error threshold (0..1) that ends the warmup_lr phase.
        plateau_patience: evaluations without a better validation error before the lr is multiplied
            by gamma (None = off).
        cycles: cosine decay restarts this many times (snapshot ensembles, Huang et al. 2017); the
            linear warm-up belongs to the first cycle only.
    """

    decay: Decay = "step"
    gamma: float = 0.1
    warmup_lr: float | None = None
    warmup_until_error: float = 0.8
    plateau_patience: int | None = None
    cycles: int = 1

    def rules(self) -> dict[str, Any]:
        """These rules as keyword arguments (of `Schedule`, or of another section)."""
        return {f.name: getattr(self, f.name) for f in fields(LrRules)}


@dataclass(kw_only=True)
class Schedule(LrRules):
    """lr(step) = peak lr x warm-up ramp x decay x plateau drops, or `warmup_lr` while warming up.

    Args:
        lr: the peak learning rate.
        total_steps: length of the run in optimizer steps (cosine and linear decay reach 0 there).
        milestones: optimizer steps where a step decay multiplies the lr by gamma.
        warmup_steps: steps of a linear ramp from 0 to lr (0 = none), at the start of the first cycle.
        max_plateau_drops: at most this many plateau drops.
    """

    lr: float
    total_steps: int
    milestones: list[int] = field(default_factory=list)
    warmup_steps: int = 0
    max_plateau_drops: int = 3
    # State that metrics change (saved in checkpoints).
    warming: bool = True
    plateau_drops: int = 0
    best_error: float = math.inf
    bad_evals: int = 0

    def lr_at(self, step: int) -> float:
        """The lr for optimizer step `step` (0-based)."""
        if self.warmup_lr is not None and self.warming:
            return self.warmup_lr
        lr = self.lr * self.gamma**self.plateau_drops
        if self.warmup_steps and step < self.warmup_steps:
            return lr * (step + 1) / self.warmup_steps
        # Progress within the current cosine cycle (the only one unless snapshots); the first cycle
        # begins when the warm-up ends, so its decay starts from the peak as the later cycles do.
        ends = self.cycle_ends()
        cycle = next((i for i, end in enumerate(ends) if step < end), len(ends) - 1)
        begin = ends[cycle - 1] if cycle else self.warmup_steps
        progress = (step - begin) / max(1, ends[cycle] - begin)
        if self.decay == "step":
            return lr * self.gamma ** sum(step >= m for m in self.milestones)
        if self.decay == "cosine":
            return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if self.decay == "linear":
            return lr * max(0.0, 1.0 - progress)
        return lr

    def cycle_ends(self) -> list[int]:
        """The optimizer steps at which each cosine cycle ends (the last one is total_steps)."""
        return [round(self.total_steps * k / self.cycles) for k in range(1, self.cycles + 1)]

    def observe_train(self, train_error: float) -> None:
        """A window of training steps ended with this mean training error (ends the warm-up)."""
        if self.warming and train_error < self.warmup_until_error:
            self.warming = False

    def observe_eval(self, val_error: float) -> None:
        """An evaluation ended with this validation error (the plateau rule)."""
        if self.plateau_patience is None:
            return
        if val_error < self.best_error:
            self.best_error, self.bad_evals = val_error, 0
            return
        self.bad_evals += 1
        if self.bad_evals >= self.plateau_patience and self.plateau_drops < self.max_plateau_drops:
            self.plateau_drops += 1
            self.bad_evals = 0

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in ("warming", "plateau_drops", "best_error", "bad_evals")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
