"""The `model:` section of a config: presets expanded, builder arguments and weights keys checked.

A model spec is one of
    "resnet50"                                   a preset (registry kind `model`)
    {preset: resnet50, num_classes: 10}          a preset with arguments changed
    {type: resnet, block: basic, depths: [...]}  a builder (registry kind `builder`) and its arguments
Presets are specs themselves (usually `{type: <builder>, ...}`), so they expand to the last form.
Validating a config (`resreg.config.validate`) and building a model (`resreg.models`) both resolve
a spec here, so they agree on what it means.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from resreg.config.loader import merge
from resreg.errors import ConfigError
from resreg.registry import Registry


def resolve_model_spec(spec: Any, registry: Registry, where: str = "model") -> dict[str, Any]:
    """Expand presets and validate: returns `{type: <builder>, ...}` with every argument checked.

    The weights keys (`pretrained: hf-hub:...`) are kept, checked apart from the builder's arguments.
    """
    spec = expand_presets(spec, registry, where)
    registry.validate("builder", {k: v for k, v in spec.items() if k not in WEIGHTS_KEYS}, where)
    registry.check_args(weights_options, {k: v for k, v in spec.items() if k in WEIGHTS_KEYS}, where, "model")
    return spec


def weights_options(
    *,
    pretrained: str | None = None,
    pretrained_allow_pickle: bool = False,
    pretrained_skip_classifier: bool = False,
    pretrained_strip_prefix: str | None = None,
) -> None:
    """The weights keys of a model section (a schema only).

    Args:
        pretrained: a weights source: a .safetensors file, a directory, hf-hub:owner/name[@rev], or a .pth file.
        pretrained_allow_pickle: allow a .pth/.pt pickle (read with torch.load(weights_only=True)).
        pretrained_skip_classifier: load everything but the classifier when the class counts differ.
        pretrained_strip_prefix: a prefix every key of the weights starts with (`model.`), removed before loading.
    """


#: keys of a model section that say where its weights come from, not what it is: listed once, above
#: (`resreg.trust` refuses every `pretrained*` key in a spec read from data, these and any later one).
WEIGHTS_KEYS = tuple(inspect.signature(weights_options).parameters)


def expand_presets(spec: Any, registry: Registry, where: str = "model") -> dict[str, Any]:
    """Replace `preset:` (or a bare preset name) by the preset's spec, keeping the given arguments on top."""
    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a model is a preset name or a mapping, got {spec!r}")
    spec = registry.expand_preset_chain("model", spec, where, merge)
    if "type" not in spec:
        raise ConfigError(
            f"{where}: name a preset (preset: resnet50) or a builder (type: resnet); "
            f"builders: {', '.join(registry.names('builder')) or 'none'}"
        )
    return spec
