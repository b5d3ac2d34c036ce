"""Building models from specs: `create_model`, `list_models` and preset expansion.

A model spec is one of
    "resnet50"                                   a preset (registry kind `model`)
    {preset: resnet50, num_classes: 10}          a preset with arguments changed
    {type: resnet, block: basic, depths: [...]}  a builder (registry kind `builder`) and its arguments
Presets are specs themselves (usually `{type: <builder>, ...}`), so they expand to the last form.
Every builder takes the keyword-only arguments `num_classes`, `in_chans`, `features_only` and
`out_indices` where its family supports them. The built module keeps its full spec in
`model.resreg_spec`, so saving a model saves what rebuilds it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from resreg.config.loader import merge
from resreg.errors import ConfigError, RegistryError
from resreg.registry import Registry

if TYPE_CHECKING:
    import torch

#: keys of a preset that describe it (for `resreg list` and the model zoo) and are not builder arguments:
#: `help` (one line) and `meta` (e.g. `{paper: "He et al. 2015", paper_error: 8.75, dataset: cifar10}`).
PRESET_INFO_KEYS = ("help", "meta")


#: keys of a model section that say where its weights come from, not what it is (see `create_model`).
WEIGHTS_KEYS = ("pretrained", "pretrained_allow_pickle", "pretrained_skip_classifier")


def resolve_model_spec(spec: Any, registry: Registry, where: str = "model") -> dict[str, Any]:
    """Expand presets and validate: returns `{type: <builder>, ...}` with every argument checked.

    The weights keys (`pretrained: hf-hub:...`) are kept, checked apart from the builder's arguments.
    """
    spec = expand_presets(spec, registry, where)
    registry.validate("builder", {k: v for k, v in spec.items() if k not in WEIGHTS_KEYS}, where)
    registry.check_args(weights_options, {k: v for k, v in spec.items() if k in WEIGHTS_KEYS}, where, "model")
    return spec


def weights_options(
    *, pretrained: str | None = None, pretrained_allow_pickle: bool = False, pretrained_skip_classifier: bool = False
) -> None:
    """The weights keys of a model section (a schema only).

    Args:
        pretrained: a weights source: a .safetensors file, a directory, hf-hub:owner/name[@rev], or a .pth file.
        pretrained_allow_pickle: allow a .pth/.pt pickle (read with torch.load(weights_only=True)).
        pretrained_skip_classifier: load everything but the classifier when the class counts differ.
    """


def expand_presets(spec: Any, registry: Registry, where: str = "model") -> dict[str, Any]:
    """Replace `preset:` (or a bare preset name) by the preset's spec, keeping the given arguments on top."""
    seen: list[str] = []
    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a model is a preset name or a mapping, got {spec!r}")
    spec = dict(spec)
    while "preset" in spec:
        name = spec.pop("preset")
        if name in seen:
            raise ConfigError(f"{where}: preset cycle {' -> '.join([*seen, name])}")
        seen.append(name)
        try:
            preset = registry.get("model", name)
        except RegistryError as exc:
            raise ConfigError(f"{where}.preset: {exc}") from None
        spec = merge({k: v for k, v in preset.obj.items() if k not in PRESET_INFO_KEYS}, spec)
    if "type" not in spec:
        raise ConfigError(
            f"{where}: name a preset (preset: resnet50) or a builder (type: resnet); "
            f"builders: {', '.join(registry.names('builder')) or 'none'}"
        )
    return spec


def create_model(
    name_or_spec: str | Mapping[str, Any],
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    features_only: bool = False,
    out_indices: list[int] | tuple[int, ...] | None = None,
    pretrained: str | None = None,
    registry: Registry | None = None,
    **overrides: Any,
) -> torch.nn.Module:
    """Build a model from a preset name or a spec, as `timm.create_model` does.

    Args:
        name_or_spec: a preset (`"resnet50"`) or a spec mapping (see the module docstring).
        num_classes: classes of the classifier (keeps the preset's when None).
        in_chans: input channels (keeps the preset's when None).
        features_only: return the feature maps of `out_indices` instead of logits.
        out_indices: which stages to return in features mode.
        pretrained: a weights source: a `.safetensors` file, a directory, or `hf-hub:owner/name[@rev]`.
        registry: the registry to build from (default: the one every installed plugin filled).
        **overrides: any other argument of the builder, e.g. `drop_path_rate=0.1`, `shortcut="A"`.
    """
    if registry is None:
        from resreg.plugins import get_registry

        registry = get_registry()
    spec = dict(name_or_spec) if isinstance(name_or_spec, Mapping) else {"preset": name_or_spec}
    extra = {"num_classes": num_classes, "in_chans": in_chans, "out_indices": out_indices}
    spec.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in extra.items() if v is not None})
    if features_only:
        spec["features_only"] = True
    spec.update(overrides)
    spec = resolve_model_spec(spec, registry)
    weights = {k: spec.pop(k) for k in WEIGHTS_KEYS if k in spec}
    pretrained = pretrained or weights.get("pretrained")
    try:
        model = registry.build_model(spec, where="model")  # a builder that asks for the registry gets it
    except ConfigError as exc:  # raised by the builder itself: name the section it came from
        message = str(exc)
        raise ConfigError(message if message.startswith("model") else f"model.{message}") from None
    # A builder may record a more self-contained spec itself (an ensemble inlines its members).
    model.resreg_spec = getattr(model, "resreg_spec", None) or spec
    if pretrained:
        from resreg.weights import load_pretrained

        source = load_pretrained(
            model,
            pretrained,
            allow_pickle=weights.get("pretrained_allow_pickle", False),
            skip_classifier=weights.get("pretrained_skip_classifier", False),
            registry=registry,
        )
        model.resreg_pretrained = {"source": pretrained, "commit": getattr(source, "commit", None)}
    return model


def list_models(pattern: str = "*", registry: Registry | None = None) -> list[str]:
    """Names of the registered model presets matching a shell-style pattern (`resnet*`)."""
    if registry is None:
        from resreg.plugins import get_registry

        registry = get_registry()
    return [n for n in registry.names("model") if fnmatch.fnmatch(n, pattern)]
