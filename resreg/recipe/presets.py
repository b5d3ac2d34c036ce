"""Recipe presets: `train:` specs expanded over their preset chain, built into a checked `Recipe`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from resreg.errors import ConfigError
from resreg.recipe.options import Recipe, TeacherSection
from resreg.recipe.sections import AugmentSection, ScheduleSection

if TYPE_CHECKING:
    from resreg.registry import Registry

#: the sections of a recipe that are always there, and the type of each
SECTIONS: dict[str, type] = {"schedule": ScheduleSection, "augment": AugmentSection}

#: a flat key of the recipes before the sections (resreg <= 0.x) -> the section it moved to
MOVED_KEYS = {f.name: section for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


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
    recipe = _recipe_of(expand_recipe(spec, registry, where), registry, where)
    if isinstance(spec, Mapping) and spec.get("preset") and "unit" in spec:
        _check_unit_change(spec, recipe.unit, registry, where)
    return recipe


def _recipe_of(values: Mapping[str, Any], registry: Registry, where: str) -> Recipe:
    for key, value in values.items():
        if key in MOVED_KEYS:
            section, value_yaml = MOVED_KEYS[key], _yaml(value)
            raise ConfigError(
                f"{where}.{key}: moved to {where}.{section}.{key} (in a file: {where}: {{{section}: {{{key}: "
                f"{value_yaml}}}}}; on the command line: {where}.{section}.{key}={value_yaml.replace(' ', '')})"
            )
    top = {k: v for k, v in values.items() if k not in SECTIONS and k != "teacher"}
    registry.check_args(Recipe, top, where, "recipe")
    sections = {}
    for name, cls in SECTIONS.items():
        section = values.get(name) or {}
        registry.check_args(cls, section, f"{where}.{name}", f"{name} section")
        sections[name] = cls(**section)
    teacher = values.get("teacher")
    if teacher is not None:
        teacher = {"source": teacher} if isinstance(teacher, str) else teacher
        registry.check_args(TeacherSection, teacher, f"{where}.teacher", "teacher section")
        teacher = TeacherSection(**teacher)
    return Recipe(**top, **sections, teacher=teacher)


def _check_unit_change(spec: Mapping[str, Any], unit: str, registry: Registry, where: str) -> None:
    """Refuse a `unit` that differs from the preset's while counts of the preset stay bare numbers: they were
    written in the preset's unit, and would silently count the new one (eval_every: 1 epoch -> every step)."""
    name = spec["preset"]
    preset = _recipe_of(expand_recipe({"preset": name}, registry, where), registry, where)
    if preset.unit == unit:
        return
    given = {k for k in ("length", "eval_every") if k in spec} | {f"schedule.{k}" for k in spec.get("schedule") or {}}
    stranded = {k: v for k, v in preset.bare_counts_of(preset.unit).items() if k.rsplit(".", 1)[0] not in given
                and k not in given}  # fmt: skip
    if stranded:
        listed = ", ".join(f"{k}: {v.split()[0]}" for k, v in stranded.items())
        restated = " ".join(f"{where}.{k}='{v}'" for k, v in stranded.items())
        raise ConfigError(
            f"{where}.unit={unit}, but preset {name!r} counts {preset.unit}s and these of its counts are bare numbers "
            f"that would now count {unit}s: {listed}; give them their unit ({restated}) or restate them in {unit}s"
        )


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
