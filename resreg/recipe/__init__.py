"""What a training recipe is: the task's optimiser, length, batch, lr schedule, augmentation and teacher.

One type, `Recipe`, with two nested sections, `schedule` (`ScheduleSection`: how the lr moves) and
`augment` (`AugmentSection`: what training images go through), and an optional `teacher`
(`TeacherSection`: knowledge distillation). The recipes of the papers are presets (registry kind
`recipe`): mappings of these values, written in YAML beside their plugin (plugins/recipes/presets.yaml),
as model presets are. The `train:` section of a config picks one and overrides any value:

    train: {preset: cifar_resnet, lr: 0.05, schedule: {warmup_lr: 0.01}}
    train: cifar_resnet                              # the same as {preset: cifar_resnet}

A preset may name another as its base (`preset: imagenet_resnet` inside it); sections merge key by key.

Lengths, milestones, warm-ups and the evaluation cadence are counts (resreg.recipe.units): a bare number
in the recipe's `unit`, optimizer steps (the ResNet CIFAR recipe is iteration based) or epochs (DenseNet,
ImageNet), or a number with its unit (`2 epochs`); the engine converts them with the loader's steps per epoch.
"""

from resreg.recipe.options import Recipe, TeacherSection
from resreg.recipe.presets import MOVED_KEYS, SECTIONS, build_recipe, expand_recipe, preset_info, recipe_spec
from resreg.recipe.sections import AugmentSection, ScheduleSection

__all__ = [
    "MOVED_KEYS",
    "SECTIONS",
    "AugmentSection",
    "Recipe",
    "ScheduleSection",
    "TeacherSection",
    "build_recipe",
    "expand_recipe",
    "preset_info",
    "recipe_spec",
]
