"""What a training recipe is: the task's optimiser, length, batch, lr schedule and augmentation.

One type, `Recipe`, with two nested sections, `schedule` (`ScheduleSection`: how the lr moves) and
`augment` (`AugmentSection`: what training images go through). The recipes of the papers are presets
(registry kind `recipe`): mappings of these values, written in YAML beside their plugin
(plugins/recipes/presets.yaml), as model presets are. The `train:` section of a config picks one and
overrides any value:

    train: {preset: cifar_resnet, lr: 0.05, schedule: {warmup_lr: 0.01}}
    train: cifar_resnet                              # the same as {preset: cifar_resnet}

A preset may name another as its base (`preset: imagenet_resnet` inside it); sections merge key by key.

Lengths, milestones, warm-ups and the evaluation cadence are counted in `unit`s: optimizer steps
(the ResNet CIFAR recipe is iteration based) or epochs (DenseNet, ImageNet); the engine converts
them with the number of steps per epoch of the loader.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import yaml

from resreg.errors import ConfigError
from resreg.schedule import Schedule

if TYPE_CHECKING:
    from collections.abc import Iterable

    import torch

    from resreg.registry import Registry



@dataclass(kw_only=True)
class ScheduleSection:
    """The lr schedule of a recipe (`train.schedule`); milestones and warm-up count recipe units.

    Args:
        decay: lr decay: step (x gamma at each milestone), cosine, linear (to 0 at the end), constant.
        milestones: where a step decay multiplies the lr by gamma, in units.
        gamma: the step and plateau factor.
        warmup: a linear lr ramp from 0 over this many units.
        warmup_lr: a constant lr until the training error falls below warmup_until_error (ResNet-110).
        warmup_until_error: the training error (0..1) that ends the warmup_lr phase.
        plateau_patience: evaluations without a better validation error before lr x gamma (None = off).
    """

    decay: Literal["step", "cosine", "linear", "constant"] = "step"
    milestones: list[float] = field(default_factory=list)
    gamma: float = 0.1
    warmup: float = 0
    warmup_lr: float | None = None
    warmup_until_error: float = 0.8
    plateau_patience: int | None = None


@dataclass(kw_only=True)
class AugmentSection:
    """The training-time augmentation of a recipe (`train.augment`); evaluation uses none of it.

    Args:
        crop_padding: pad-and-random-crop padding in pixels (4 = the CIFAR recipe).
        hflip: random horizontal flips.
        scale: shorter side drawn in [a, b] before cropping (ImageNet: [256, 480]).
        crop_size: random crop size after scaling (ImageNet: 224).
        color_jitter: colour augmentation strength: brightness, contrast, saturation x [1 - x, 1 + x].
        lighting: AlexNet PCA lighting noise std (0.1).
        normalize: channel (mean/std per channel) or pixel (subtract the per-pixel mean image).
    """

    crop_padding: int = 0
    hflip: bool = False
    scale: list[int] | None = None
    crop_size: int | None = None
    color_jitter: float = 0.0
    lighting: float = 0.0
    normalize: Literal["pixel", "channel"] = "channel"

    def __post_init__(self) -> None:
        at = "train.augment."
        if self.crop_padding < 0 or (self.crop_size is not None and self.crop_size < 1):
            raise ConfigError(f"{at}crop_padding must be >= 0 and {at}crop_size >= 1, got {self.crop_padding}, "
                              f"{self.crop_size}")  # fmt: skip
        if self.scale is not None and not (len(self.scale) == 2 and 1 <= self.scale[0] <= self.scale[1]):
            raise ConfigError(f"{at}scale must be [shortest, longest] with 1 <= shortest <= longest, got {self.scale}")
        if not 0 <= self.color_jitter < 1 or self.lighting < 0:
            raise ConfigError(f"{at}color_jitter must be in [0, 1) and {at}lighting >= 0, got {self.color_jitter}, "
                              f"{self.lighting}")  # fmt: skip


#: the sections of a recipe and the type of each
SECTIONS: dict[str, type] = {"schedule": ScheduleSection, "augment": AugmentSection}

#: a flat key of the recipes before the sections (resreg <= 0.x) -> the section it moved to
MOVED_KEYS = {f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


@dataclass(kw_only=True)
class Recipe:
    """A training recipe; the presets of plugins/recipes/presets.yaml set their paper's values.

    Args:
        batch_size: images per optimizer step, over all processes.
        unit: what length, milestones, warmup and eval_every count: optimizer steps or epochs.
        length: how long to train, in units.
        optimizer: sgd (with momentum) or adamw.
        lr: the peak learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: L2 penalty (SGD) or decoupled weight decay (AdamW).
        label_smoothing: cross-entropy label smoothing.
        eval_every: units between evaluations (and best-checkpoint checks).
        val_split: hold out the last N training images as validation (45k/5k: 5000), if the data set
            takes val_split and its spec does not set it.
        snapshots: a snapshot ensemble (Huang et al. 2017): M cosine cycles, the model saved at the end
            of each, and an ensemble config of the M snapshots (0 = off).
        schedule: the lr schedule: decay, milestones, gamma, warm-ups, plateau rule (see `ScheduleSection`).
        augment: the training augmentation: crops, flips, scale, jitter, lighting, normalisation
            (see `AugmentSection`).
    """

    batch_size: int = 128
    unit: Literal["step", "epoch"] = "epoch"
    length: float = 10
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    eval_every: float = 1
    val_split: int = 0
    snapshots: int = 0
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    augment: AugmentSection = field(default_factory=AugmentSection)

    def __post_init__(self) -> None:
        # Checked here, where the key's place is known: the loader would only see a bare batch_size.
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size={self.batch_size}: must be at least 1")
        for key, value in (("length", self.length), ("eval_every", self.eval_every)):
            if not value > 0:
                raise ConfigError(f"train.{key}={value}: must be above 0 ({self.unit}s)")
        if self.lr < 0 or self.snapshots < 0 or self.val_split < 0 or not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"train: lr={self.lr}, snapshots={self.snapshots} and val_split={self.val_split} must be >= 0, "
                f"label_smoothing={self.label_smoothing} in [0, 1)"
            )

    def to_spec(self) -> dict[str, Any]:
        """Every value as plain YAML-ready data: the complete `train:` section (without `preset:`)."""
        return dataclasses.asdict(self)

    def steps(self, units: float, steps_per_epoch: int) -> int:
        """Units (steps or epochs) -> optimizer steps."""
        return round(float(units) * (steps_per_epoch if self.unit == "epoch" else 1))

    def total_steps(self, steps_per_epoch: int) -> int:
        return max(1, self.steps(self.length, steps_per_epoch))

    def eval_every_steps(self, steps_per_epoch: int) -> int:
        return max(1, self.steps(self.eval_every, steps_per_epoch))

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

    def build_optimizer(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        import torch

        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            params, lr=self.lr, momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.weight_decay
        )

    def build_schedule(self, steps_per_epoch: int) -> Schedule:
        s = self.schedule
        return Schedule(
            lr=self.lr,
            total_steps=self.total_steps(steps_per_epoch),
            decay="cosine" if self.snapshots > 1 else s.decay,
            cycles=max(1, self.snapshots),
            milestones=[self.steps(m, steps_per_epoch) for m in s.milestones],
            gamma=s.gamma,
            warmup_steps=self.steps(s.warmup, steps_per_epoch),
            warmup_lr=s.warmup_lr,
            warmup_until_error=s.warmup_until_error,
            plateau_patience=s.plateau_patience,
        )


def expand_recipe(spec: Any, registry: Registry, where: str = "train") -> dict[str, Any]:
    """`preset:` (or a bare preset name) replaced by the preset's values, the given ones on top; presets
    that name a base preset are expanded down to it. Sections merge key by key."""
    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a recipe is a preset name or a mapping, got {spec!r}")
    if "type" in spec:
        name = spec["type"]
        raise ConfigError(
            f"{where}.type: recipes are presets now, as models are: write {where}: {{preset: {name}}} "
            f"(or {where}: {name}) instead of {where}: {{type: {name}}}"
        )
    return registry.expand_preset_chain("recipe", spec, where, _on_top)


def _on_top(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`top`'s values over `base`'s; the sections merge key by key (a recipe is two levels deep)."""
    out = {**base, **top}
    for name in SECTIONS:
        if isinstance(base.get(name), Mapping) and isinstance(top.get(name), Mapping):
            out[name] = {**base[name], **top[name]}
    return out


def build_recipe(spec: Any, registry: Registry, where: str = "train") -> Recipe:
    """The `Recipe` of a `train:` spec: presets expanded, every key and value checked (one-line errors)."""
    values = expand_recipe(spec, registry, where)
    for key, value in values.items():
        if key in MOVED_KEYS:
            section, value_yaml = MOVED_KEYS[key], _yaml(value)
            raise ConfigError(
                f"{where}.{key}: moved to {where}.{section}.{key} (in a file: {where}: {{{section}: {{{key}: "
                f"{value_yaml}}}}}; on the command line: {where}.{section}.{key}={value_yaml.replace(' ', '')})"
            )
    top = {k: v for k, v in values.items() if k not in SECTIONS}
    registry.check_args(Recipe, top, where, "recipe")
    sections = {}
    for name, cls in SECTIONS.items():
        section = values.get(name) or {}
        registry.check_args(cls, section, f"{where}.{name}", f"{name} section")
        sections[name] = cls(**section)
    return Recipe(**top, **sections)


def recipe_spec(spec: Any, recipe: Recipe) -> dict[str, Any]:
    """The `train:` section `spec` built into `recipe`, with every value written out (the preset's name first)."""
    name = spec if isinstance(spec, str) else spec.get("preset") if isinstance(spec, Mapping) else None
    return ({"preset": name} if name is not None else {}) | recipe.to_spec()


def preset_info(registry: Registry, name: str) -> dict[str, Any]:
    """A preset's `meta` (`paper`, `note`) and the base preset it names, if any (`base`)."""
    preset = registry.get("recipe", name).obj
    if not isinstance(preset, Mapping):
        return {}
    base = {"base": preset["preset"]} if preset.get("preset") else {}
    return dict(preset.get("meta") or {}) | base


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...")
