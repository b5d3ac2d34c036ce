"""The public entry points: `create_model` (as `timm.create_model`), `load_model`, `load_pretrained`, `list_models`.

A model is named by a preset (`"resnet50"`), a spec (`{preset: resnet50, num_classes: 10}`,
`{type: resnet, ...}`: see `resreg.config.model_spec`) or where it is (`hf-hub:owner/name[@rev]`,
`local-dir:/path`). Every builder takes the keyword-only arguments `num_classes`, `in_chans`,
`features_only` and `out_indices` where its family supports them. The built module keeps its full
spec in `model.resreg_spec`, so saving a model (`resreg.weights.save_model`) saves what rebuilds it.

These functions are where the installed plugins come in: without a `registry` argument they use
the one every installed plugin filled, and hand it down (`resreg.build.BuildContext`); nothing
below them looks the plugins up itself. A builder that needs more than its arguments (an ensemble
builds members) takes a `BuildContext` as its first, positional parameter.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.build import BuildContext
from resreg.config.model_spec import expand_presets, resolve_model_spec, weights_options
from resreg.loading import models as loading
from resreg.loading.sources import Source
from resreg.plugins import get_registry, loaded_plugin_infos
from resreg.registry import PRESET_INFO_KEYS, Registry

if TYPE_CHECKING:
    import torch

__all__ = [
    "PRESET_INFO_KEYS",
    "BuildContext",
    "architecture_of",
    "create_model",
    "expand_presets",
    "list_models",
    "load_model",
    "load_pretrained",
    "resolve_model_spec",
    "weights_options",
]


def _build_context(registry: Registry | None = None) -> BuildContext:
    """The context a trusted build runs in: `registry` (default: the one every installed plugin filled)."""
    registry = get_registry() if registry is None else registry
    return BuildContext(registry, loading.member_model, plugins=tuple(loaded_plugin_infos()))


def create_model(
    name_or_spec: str | Mapping[str, Any],
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    features_only: bool = False,
    out_indices: list[int] | tuple[int, ...] | None = None,
    pretrained: bool | str | None = None,
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
        pretrained: a weights source: a `.safetensors` file, a directory, or `hf-hub:owner/name[@rev]`;
            None (or True) for the one the spec or preset names, False for none at all. A model named
            `hf-hub:...` or `local-dir:...` brings its own weights: False builds it without them.
        registry: the registry to build from (default: the one every installed plugin filled).
        **overrides: any other argument of the builder, e.g. `drop_path_rate=0.1`, `shortcut="A"`.
    """
    extra = {"num_classes": num_classes, "in_chans": in_chans, "out_indices": out_indices}
    args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in extra.items() if v is not None}
    if features_only:
        args["features_only"] = True
    return loading.create(name_or_spec, _build_context(registry), pretrained=pretrained, **args, **overrides)


def load_model(
    source: str | os.PathLike[str], *, registry: Registry | None = None, allow_pickle: bool = False
) -> torch.nn.Module:
    """Rebuild a model from a source that carries its spec, and load its weights strictly.

    A file written by `save_model`, a run directory, a resreg folder or Hub repo (`resreg.yaml`), or a
    timm folder or repo (`config.json`: its `architecture` is the resreg preset of that name) all
    rebuild with no other input. Components the spec names but no installed plugin provides are
    reported with the distribution that the source says provides them.

    Args:
        source: a `.safetensors` file, a folder, `hf-hub:owner/name[@revision]` or `local-dir:/path`.
        registry: the registry to build from (default: the one every installed plugin filled).
        allow_pickle: accept a timm folder whose weights are a pickle (`pytorch_model.bin`); only
            this argument enables pickles, never anything the source itself says.
    """
    return loading.model_from_source(source, _build_context(registry), allow_pickle=allow_pickle)


def load_pretrained(
    model: torch.nn.Module,
    source: str | Path,
    *,
    allow_pickle: bool = False,
    skip_classifier: bool = False,
    strip_prefix: str | None = None,
    registry: Registry | None = None,
) -> Source:
    """Load the weights of `source` into `model` strictly, after conversion and adaptation.

    Keys are converted (wrapper prefixes, registered converters), the first conv is adapted to the
    model's `in_chans`, and the classifier is left out when the model has none, or when the class
    count differs and `skip_classifier` is set. Returns the opened source (its `commit` is the Hub
    sha to record).

    Args:
        model: the model to fill (built with `resreg.create_model`, or any module with timm's
            `pretrained_cfg`).
        source: a file, a folder or `hf-hub:owner/name[@revision]`.
        allow_pickle: accept pickled `.pth`/`.pt`/`.bin` state dicts (read with weights_only=True).
        skip_classifier: when the class counts differ, load everything but the classifier.
        strip_prefix: a prefix to remove from every key that starts with it (`model.` of a checkpoint
            saved from a wrapper module); the strict-loading error names it when it is needed.
        registry: the registry with the weight converters (default: the one every plugin filled).
    """
    return loading.load_pretrained(
        model, source, _build_context(registry),
        allow_pickle=allow_pickle, skip_classifier=skip_classifier, strip_prefix=strip_prefix,
    )  # fmt: skip


def list_models(pattern: str = "*", registry: Registry | None = None) -> list[str]:
    """Names of the registered model presets matching a shell-style pattern (`resnet*`)."""
    registry = get_registry() if registry is None else registry
    return [n for n in registry.names("model") if fnmatch.fnmatch(n, pattern)]


def architecture_of(spec: Mapping[str, Any], registry: Registry) -> str:
    """The preset this spec is (class and channel counts aside), e.g. `resnet20`; else its builder's name."""
    ignored = ("num_classes", "in_chans")
    wanted = {k: v for k, v in spec.items() if k not in ignored}
    for name in registry.names("model"):
        if name.startswith("_"):
            continue
        try:
            preset = resolve_model_spec(name, registry)
        except Exception:  # a preset that does not resolve here is simply not this one
            continue
        if {k: v for k, v in preset.items() if k not in ignored} == wanted:
            return name
    return str(spec.get("type", "model"))
