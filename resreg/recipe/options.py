"""`Recipe`: the task's optimiser, length, batch, lr schedule, augmentation and teacher, as one typed value."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from resreg.errors import ConfigError, did_you_mean
from resreg.recipe.sections import AugmentSection, ScheduleSection
from resreg.recipe.units import Count, Unit, parse_count, to_steps, with_unit
from resreg.schedule import Schedule

#: what `no_weight_decay_on` may name: bias vectors, and the weights of normalisation layers
NoDecay = Literal["bias", "norm"]

#: a warm-up may take at most this share of a snapshot run's first cycle (its snapshot would be barely trained)
MAX_WARMUP_SHARE_OF_CYCLE = 0.2


@dataclass(kw_only=True)
class TeacherSection:
    """Knowledge distillation (Hinton et al. 2015): a trained model whose softened outputs the student also fits.

    Args:
        source: any model source resreg loads: a run directory, a `.safetensors` file, `hf-hub:owner/name`,
            or a model spec with `pretrained:` (a pulled teacher is untrusted, as `pretrained:` weights are).
        temperature: the softmax temperature of both models' outputs in the distillation term.
        weight: the distillation term's share of the loss; the label loss gets 1 - weight.
    """

    source: str | dict[str, Any]
    temperature: float = 4.0
    weight: float = 0.5

    def __post_init__(self) -> None:
        if not self.temperature > 0 or not 0 <= self.weight <= 1:
            raise ConfigError(f"train.teacher: temperature={self.temperature} must be > 0 and weight={self.weight} "
                              "in [0, 1]")  # fmt: skip


@dataclass(kw_only=True)
class Recipe:
    """A training recipe; the presets of plugins/recipes/presets.yaml set their paper's values.

    Args:
        batch_size: images per optimizer step, over all processes.
        unit: what bare counts (length, milestones, warmup, eval_every) count: optimizer steps or epochs.
            A count may also carry its unit: `eval_every: 2 epochs`, `warmup: 500 steps`.
        length: how long to train (a count).
        optimizer: sgd (with momentum; `nesterov` for Nesterov's) or any optimizer of timm by name
            (adamw, lamb, lars, ...: timm.optim.list_optimizers()).
        lr: the peak learning rate, at batch `lr_base_batch` if that is set.
        lr_base_batch: scale the lr linearly with the batch (Goyal et al. 2017): lr x batch_size / this.
        momentum: the momentum of SGD (and of timm's optimizers that have one).
        nesterov: Nesterov momentum (sgd).
        weight_decay: L2 penalty (SGD) or decoupled weight decay (AdamW, LAMB).
        no_weight_decay_on: parameters without weight decay: bias, norm (Bag of Tricks, section 3.1).
        accumulate: split each batch into this many micro-batches whose gradients add up before the step
            (the same step in less memory; batch norm sees the micro-batches).
        loss: cross_entropy, or bce (binary cross-entropy per class, as ResNet Strikes Back).
        label_smoothing: label smoothing (mixed into the targets of mixup and CutMix).
        eval_every: the count between evaluations (and best-checkpoint checks).
        val_split: hold out the last N training images as validation (45k/5k: 5000), if the data set
            takes val_split and its spec does not set it.
        snapshots: a snapshot ensemble (Huang et al. 2017): M cosine cycles, the model saved at the end
            of each, and an ensemble config of the M snapshots (0 = off). Sets schedule.decay: cosine and
            schedule.cycles: M, which the saved config records.
        schedule: the lr schedule: decay, milestones, gamma, warm-ups, plateau rule (see `ScheduleSection`).
        augment: the training augmentation (see `AugmentSection`).
        teacher: a model to distil from (see `TeacherSection`; None = off).
    """

    batch_size: int = 128
    unit: Unit = "epoch"
    length: Count = 10
    optimizer: str = "sgd"
    lr: float = 0.1
    lr_base_batch: int | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    no_weight_decay_on: list[NoDecay] = field(default_factory=list)
    accumulate: int = 1
    loss: Literal["cross_entropy", "bce"] = "cross_entropy"
    label_smoothing: float = 0.0
    eval_every: Count = 1
    val_split: int = 0
    snapshots: int = 0
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    teacher: TeacherSection | None = None

    def __post_init__(self) -> None:
        # Checked here, where the key's place is known: the loader would only see a bare batch_size.
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size={self.batch_size}: must be at least 1")
        for key, value in self.counts().items():
            number, _ = parse_count(value, f"train.{key}")  # a malformed count is refused here, by its key
            if key in ("length", "eval_every") and not number > 0:
                raise ConfigError(f"train.{key}={value}: must be above 0 ({self.unit}s)")
        if self.lr < 0 or self.snapshots < 0 or self.val_split < 0 or not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"train: lr={self.lr}, snapshots={self.snapshots} and val_split={self.val_split} must be >= 0, "
                f"label_smoothing={self.label_smoothing} in [0, 1)"
            )
        if self.accumulate < 1 or self.batch_size % self.accumulate or (self.lr_base_batch or 1) < 1:
            raise ConfigError(f"train.accumulate={self.accumulate} must be >= 1 and divide train.batch_size="
                              f"{self.batch_size}; train.lr_base_batch={self.lr_base_batch} >= 1")  # fmt: skip
        if self.augment.mixes and self.batch_size % 2:  # timm's Mixup pairs each image with another of its batch
            raise ConfigError(f"train.batch_size={self.batch_size}: mixup and CutMix need an even batch")
        if self.optimizer not in ("sgd", "adamw"):
            _check_timm_optimizer(self.optimizer)
        cycles = max(1, self.snapshots)
        if self.schedule.cycles not in (1, cycles):
            raise ConfigError(
                f"train.schedule.cycles={self.schedule.cycles} goes with train.snapshots={self.snapshots}: "
                f"set train.snapshots={self.schedule.cycles} (each cycle ends in a snapshot)"
            )
        if cycles > 1:  # what runs is recorded: the saved config says cosine cycles, not the preset's decay
            self.schedule.decay, self.schedule.cycles = "cosine", cycles

    def counts(self) -> dict[str, Count]:
        """Every count of the recipe by its key (`schedule.milestones.0`, ...), as written."""
        milestones = {f"schedule.milestones.{i}": m for i, m in enumerate(self.schedule.milestones)}
        counts = {"length": self.length, "eval_every": self.eval_every, "schedule.warmup": self.schedule.warmup}
        return counts | milestones

    def to_spec(self) -> dict[str, Any]:
        """Every value as plain YAML-ready data: the complete `train:` section (without `preset:`)."""
        return dataclasses.asdict(self)

    def steps(self, count: Count, steps_per_epoch: int, key: str = "count") -> int:
        """A count (bare: in `unit`s) -> optimizer steps."""
        return to_steps(count, self.unit, steps_per_epoch, f"train.{key}")

    def total_steps(self, steps_per_epoch: int) -> int:
        return max(1, self.steps(self.length, steps_per_epoch, "length"))

    def eval_every_steps(self, steps_per_epoch: int) -> int:
        return max(1, self.steps(self.eval_every, steps_per_epoch, "eval_every"))

    def scaled_lr(self) -> tuple[float, str]:
        """The lr the run uses and why: `lr` as given, or scaled linearly from batch `lr_base_batch`
        (`batch_size` is the global batch on any number of processes, so the rule needs nothing else)."""
        if self.lr_base_batch is None:
            return self.lr, "train.lr"
        lr = self.lr * self.batch_size / self.lr_base_batch
        return lr, f"train.lr {self.lr:g} x batch {self.batch_size} / train.lr_base_batch {self.lr_base_batch}"

    def check_eval_splits(self, splits: list[str], data_name: str) -> None:
        """Refuse a plateau rule with no val split evaluated: it watches the val error, and would never fire."""
        patience = self.schedule.plateau_patience
        if patience is not None and "val" not in splits:
            evaluated = f"eval.splits evaluates {', '.join(splits) or 'nothing'} of data set {data_name!r}"
            raise ConfigError(
                f"train.schedule.plateau_patience={patience} watches the val error, but {evaluated}; give the "
                "data set a val split (data.val_split=N, or data.val_dir for an image folder) and evaluate it, "
                "or set train.schedule.plateau_patience=null train.schedule.milestones=[...]"
            )

    def data_args(self) -> dict[str, Any]:
        """Arguments the recipe adds to the data set spec (where the spec leaves them unset)."""
        return {"val_split": self.val_split} if self.val_split else {}

    def build_schedule(self, steps_per_epoch: int) -> Schedule:
        s = self.schedule
        schedule = Schedule(
            **s.rules(),
            lr=self.scaled_lr()[0],
            total_steps=self.total_steps(steps_per_epoch),
            milestones=[self.steps(m, steps_per_epoch, "schedule.milestones") for m in s.milestones],
            warmup_steps=self.steps(s.warmup, steps_per_epoch, "schedule.warmup"),
        )
        first_cycle = schedule.cycle_ends()[0]
        if schedule.cycles > 1 and schedule.warmup_steps > MAX_WARMUP_SHARE_OF_CYCLE * first_cycle:
            most = int(MAX_WARMUP_SHARE_OF_CYCLE * first_cycle)
            allowed = f"train.schedule.warmup='{most} steps' or less" if most else "train.schedule.warmup=0"
            raise ConfigError(
                f"train.schedule.warmup={s.warmup} is {schedule.warmup_steps} steps, more than a fifth of the first "
                f"of {schedule.cycles} snapshot cycles ({first_cycle} steps): its snapshot would be barely trained; "
                f"set {allowed}"
            )
        return schedule

    def bare_counts_of(self, unit: Unit) -> dict[str, str]:
        """The counts written as bare nonzero numbers (0 is 0 in any unit), each restated in `unit`
        (`{"eval_every": "1 epochs"}`)."""
        counts = {k: parse_count(v, k) for k, v in self.counts().items()}
        return {k: with_unit(number, unit) for k, (number, own) in counts.items() if own is None and number != 0}


def _check_timm_optimizer(name: str) -> None:
    from timm.optim import list_optimizers

    known = list_optimizers()
    if name not in known:
        raise ConfigError("train.optimizer: " + did_you_mean(name, known, "optimizer"))
