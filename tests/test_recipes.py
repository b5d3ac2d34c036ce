"""Recipes: YAML presets over one `Recipe` type with `schedule` and `augment` sections (the lr curve
itself: tests/test_schedule.py). Each preset builds the optimizer and schedule its paper describes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from resreg.config import load_config, validate_config
from resreg.engine.optim import build_optimizer
from resreg.errors import ConfigError
from resreg.plugins import get_registry
from resreg.recipe import AugmentSection, Recipe, ScheduleSection, build_recipe, recipe_spec
from resreg.registry import Registry, read_presets


def built(name: str, steps_per_epoch: int = 391) -> tuple[Recipe, torch.optim.Optimizer, object]:
    recipe = build_recipe(name, get_registry())
    optimizer = build_optimizer(recipe, torch.nn.Linear(1, 1))
    return recipe, optimizer.param_groups[0], recipe.build_schedule(steps_per_epoch)


def test_the_registered_recipes_are_the_presets_of_the_yaml_file_each_with_help_and_paper():
    presets = read_presets("resreg_plugins.recipes")
    registry = get_registry()
    assert registry.names("recipe") == sorted(presets)
    assert {"cifar_resnet", "cifar_densenet", "imagenet_resnet", "imagenet_densenet", "fast"} <= set(presets)
    for name, preset in presets.items():
        entry = registry.get("recipe", name)
        assert entry.obj == preset and entry.plugin == "recipes"
        assert entry.help == preset["help"] and len(entry.help) > 20, name
        assert preset["meta"]["paper"], name


def test_cifar_resnet_is_he_et_al_section_4_2():
    recipe, group, schedule = built("cifar_resnet")
    assert (recipe.batch_size, recipe.unit, recipe.length, recipe.eval_every) == (128, "step", 64000, 1000)
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == (0.1, 0.9, 1e-4, False)
    assert schedule.milestones == [32000, 48000] and schedule.total_steps == 64000  # steps, whatever the epoch
    lrs = [schedule.lr_at(s) for s in (0, 31999, 32000, 47999, 48000, 63999)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert (recipe.augment.crop_padding, recipe.augment.hflip, recipe.augment.normalize) == (4, True, "pixel")
    options = recipe.augment
    assert (options.crop_padding, options.hflip, options.normalize, options.scale) == (4, True, "pixel", None)


def test_cifar_densenet_is_huang_et_al_section_4_2():
    recipe, group, schedule = built("cifar_densenet", steps_per_epoch=782)  # 50k images at batch 64
    assert (recipe.batch_size, recipe.unit, recipe.length) == (64, "epoch", 300)
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == (0.1, 0.9, 1e-4, True)
    assert schedule.milestones == [150 * 782, 225 * 782] and schedule.total_steps == 300 * 782


def test_imagenet_resnet_drops_the_lr_on_plateaus():
    recipe, group, schedule = built("imagenet_resnet", steps_per_epoch=5005)
    assert (recipe.batch_size, recipe.length, group["lr"], group["nesterov"]) == (256, 120, 0.1, False)
    assert schedule.plateau_patience == 5 and schedule.milestones == []
    augment = recipe.augment
    assert (augment.scale, augment.crop_size, augment.lighting, augment.hflip) == ([256, 480], 224, 0.1, True)


def test_imagenet_densenet_is_the_resnet_recipe_with_its_changes():
    recipe, group, schedule = built("imagenet_densenet", steps_per_epoch=5005)
    assert (recipe.batch_size, recipe.unit, recipe.length) == (256, "epoch", 90)
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == (0.1, 0.9, 1e-4, True)
    assert schedule.milestones == [30 * 5005, 60 * 5005] and schedule.plateau_patience is None
    assert recipe.augment == build_recipe("imagenet_resnet", get_registry()).augment  # from its base preset
    assert read_presets("resreg_plugins.recipes")["imagenet_densenet"]["preset"] == "imagenet_resnet"


def test_fast_is_one_linear_cycle_with_label_smoothing():
    recipe, group, schedule = built("fast", steps_per_epoch=100)
    assert (recipe.length, recipe.label_smoothing, group["lr"], group["nesterov"]) == (1, 0.1, 0.2, True)
    assert (schedule.decay, schedule.warmup_steps, schedule.total_steps) == ("linear", 10, 100)
    assert schedule.lr_at(9) == pytest.approx(0.2) and schedule.lr_at(99) < 0.01


def test_a_preset_on_a_base_merges_its_sections_key_by_key():
    registry = Registry()
    for name, preset in read_presets("resreg_plugins.recipes").items():
        registry.register("recipe", name, preset)
    registry.register("recipe", "short", {"preset": "cifar_resnet", "help": "x", "length": 100,
                                          "schedule": {"milestones": [50]}})  # fmt: skip
    registry.register("recipe", "shorter", {"preset": "short", "schedule": {"gamma": 0.5}})
    recipe = build_recipe({"preset": "shorter", "augment": {"hflip": False}}, registry)
    assert (recipe.length, recipe.lr, recipe.unit) == (100, 0.1, "step")
    assert (recipe.schedule.milestones, recipe.schedule.gamma, recipe.schedule.decay) == ([50], 0.5, "step")
    assert (recipe.augment.hflip, recipe.augment.crop_padding) == (False, 4)
    registry.register("recipe", "loop_a", {"preset": "loop_b"})
    registry.register("recipe", "loop_b", {"preset": "loop_a"})
    with pytest.raises(ConfigError, match="recipe preset cycle loop_a -> loop_b -> loop_a"):
        build_recipe("loop_a", registry)


def test_a_config_changes_values_in_the_sections_and_keeps_the_rest():
    config = load_config("cifar10/resnet20", ["train.lr=0.05", "train.schedule.warmup_lr=0.01", "train.length=30"])
    train = validate_config(config, "x", get_registry()).to_dict()["train"]
    assert (train["preset"], train["lr"], train["length"]) == ("cifar_resnet", 0.05, 30)
    assert train["schedule"]["warmup_lr"] == 0.01 and train["schedule"]["milestones"] == [32000, 48000]
    assert set(train) == {"preset"} | {f.name for f in dataclasses.fields(Recipe)}
    recipe = build_recipe(train, get_registry())
    assert recipe_spec(train, recipe) == train  # the complete section builds the same recipe again
    assert recipe.build_schedule(391).lr_at(0) == 0.01


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.milestones=[1,2]", "train.milestones: moved to train.schedule.milestones (in a file: train: {schedule: "
                                   "{milestones: [1, 2]}}; on the command line: train.schedule.milestones=[1,2])"),
        ("train.warmup_lr=0.01", "train.warmup_lr: moved to train.schedule.warmup_lr"),
        ("train.crop_padding=4", "train.crop_padding: moved to train.augment.crop_padding"),
        ("train.normalize=pixel", "train.normalize: moved to train.augment.normalize"),
        ("train.lrr=0.1", "train.lrr: unknown argument 'lrr' of recipe (did you mean 'lr'?"),
        ("train.schedule.gama=0.5", "train.schedule.gama: unknown argument 'gama' of schedule section (did you mean "),
        ("train.augment.hflip=maybe", "train.augment.hflip: 'maybe' is not a valid bool"),
        ("train.augment.scale=[480,256]", "train.augment.scale must be [shortest, longest]"),
        ("train.schedule=3", "train.schedule: schedule sections are a mapping, got 3"),
        ("train.preset=cifar_resnt", "train.preset: unknown recipe 'cifar_resnt' (did you mean 'cifar_resnet'?"),
        ("train={type: fast}", "train.type: recipes are presets now, as models are: write train: {preset: fast} "
                               "(or train: fast) instead of train: {type: fast}"),
        ("train.batch_size=0", "train.batch_size=0: must be at least 1"),
        ("train.length=0", "train.length=0: must be above 0 (epochs)"),
        ("train.eval_every=-1", "train.eval_every=-1: must be above 0"),
        ("train.label_smoothing=1", "label_smoothing=1 in [0, 1)"),
    ],
)  # fmt: skip
def test_a_bad_train_section_is_one_line_that_says_what_to_write(cli, override, message):
    result = cli("show", "quickstart", override)
    assert result.status == 2 and result.err.count("\n") == 1, result.err
    assert message in result.err


def test_a_recipe_registered_as_a_class_is_refused_in_one_line():
    registry = Registry()
    registry.register("recipe", "old_style", Recipe)
    with pytest.raises(ConfigError, match=r"train\.preset: recipe 'old_style' of plugin '\?' is not a preset mapping"):
        build_recipe("old_style", registry)


def test_list_recipes_verbose_shows_the_paper_and_every_resolved_value(cli):
    result = cli("list", "recipes", "-v")
    assert result.status == 0, result.err
    blocks: dict[str, list[str]] = {}
    name = ""
    for line in result.out.splitlines():
        if line.startswith("    "):
            blocks[name].append(line.strip())
        else:
            name = line.split()[0]
            blocks[name] = [line]
    assert sorted(blocks) == get_registry().names("recipe")
    fields = [f.name for f in dataclasses.fields(Recipe) if f.name not in ("schedule", "augment", "teacher")]
    fields += [f"schedule.{f.name}" for f in dataclasses.fields(ScheduleSection)]
    fields += [f"augment.{f.name}" for f in dataclasses.fields(AugmentSection)] + ["teacher"]
    for name, lines in blocks.items():
        assert [line.split(":")[0] for line in lines[1:] if line.split(":")[0] in fields] == fields, name
    cifar = blocks["cifar_resnet"]
    assert "ResNet on CIFAR" in cifar[0] and "paper: He et al. 2015, section 4.2" in cifar
    assert {"batch_size: 128", "lr: 0.1", "schedule.milestones: [32000, 48000]", "augment.hflip: true"} <= set(cifar)
    dense = blocks["imagenet_densenet"]
    assert {"paper: Huang et al. 2017, section 4.2", "base: imagenet_resnet", "length: 90", "nesterov: true",
            "schedule.milestones: [30, 60]", "augment.scale: [256, 480]"} <= set(dense)  # fmt: skip
