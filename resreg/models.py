"""Building models: `create_model` (as `timm.create_model`), `list_models`.

A model is named by a preset (`"resnet50"`), a spec (`{preset: resnet50, num_classes: 10}`,
`{type: resnet, ...}`: see `resreg.config.model_spec`) or where it is (`hf-hub:owner/name`,
`local-dir:/path`: see `resreg.model_sources`). `create_model` builds it (`resreg.build`) and loads
the weights its `pretrained:` names (`resreg.weights`). Every builder takes the keyword-only
arguments `num_classes`, `in_chans`, `features_only` and `out_indices` where its family supports
them. The built module keeps its full spec in `model.resreg_spec`, so saving a model saves what
rebuilds it. A spec read from data is built with `create_model_from_data` (see `resreg.build`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from resreg.build import build_resolved, create_model_from_data, untrusted_origin
from resreg.config.model_spec import WEIGHTS_KEYS, expand_presets, resolve_model_spec, weights_options
from resreg.model_sources import create_located_model, is_located
from resreg.plugins import get_registry
from resreg.registry import PRESET_INFO_KEYS, Registry
from resreg.weights import load_pretrained

if TYPE_CHECKING:
    import torch

__all__ = [
    "PRESET_INFO_KEYS",
    "WEIGHTS_KEYS",
    "create_model",
    "create_model_from_data",
    "expand_presets",
    "list_models",
    "resolve_model_spec",
    "untrusted_origin",
    "weights_options",
]


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
            For a model named `hf-hub:...` or `local-dir:...` (see resreg.model_sources), which brings
            its own weights: False to build it without them.
        registry: the registry to build from (default: the one every installed plugin filled).
        **overrides: any other argument of the builder, e.g. `drop_path_rate=0.1`, `shortcut="A"`.
    """
    registry = get_registry() if registry is None else registry
    spec = dict(name_or_spec) if isinstance(name_or_spec, Mapping) else {"preset": name_or_spec}
    extra = {"num_classes": num_classes, "in_chans": in_chans, "out_indices": out_indices}
    spec.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in extra.items() if v is not None})
    if features_only:
        spec["features_only"] = True
    spec.update(overrides)
    if is_located(name_or_spec) and untrusted_origin() is None:  # hf-hub:owner/name, local-dir:/path
        spec.pop("preset")
        return create_located_model(name_or_spec, pretrained=pretrained, registry=registry, **spec)
    spec = resolve_model_spec(spec, registry)
    weights = {k: spec.pop(k) for k in WEIGHTS_KEYS if k in spec}
    pretrained = pretrained or weights.get("pretrained")
    if untrusted_origin() is not None:  # built from data: its weights come from that same file, nothing else
        pretrained = None
    model = build_resolved(spec, registry)
    if pretrained:
        source = load_pretrained(
            model,
            pretrained,
            allow_pickle=weights.get("pretrained_allow_pickle", False),
            skip_classifier=weights.get("pretrained_skip_classifier", False),
            strip_prefix=weights.get("pretrained_strip_prefix"),
            registry=registry,
        )
        model.resreg_pretrained = {"source": pretrained, "commit": getattr(source, "commit", None)}
    return model


def list_models(pattern: str = "*", registry: Registry | None = None) -> list[str]:
    """Names of the registered model presets matching a shell-style pattern (`resnet*`)."""
    registry = get_registry() if registry is None else registry
    return [n for n in registry.names("model") if fnmatch.fnmatch(n, pattern)]
