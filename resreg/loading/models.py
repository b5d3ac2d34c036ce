"""Models with their weights: every path from a model source to a filled model goes through here.

    create(name_or_spec, context)      a preset or spec plus its `pretrained:` (create_model), or a model
                                       named by where it is: hf-hub:owner/name[@rev], local-dir:/path
    model_from_source(source, context) a model rebuilt from a source alone: a saved file, a folder, a run
                                       directory or a repo that carries its spec (load_model)
    member_model(source, context, where)   an ensemble's member: any of the above (see BuildContext.member)
    load_pretrained(model, source, context)   the weights of a source, into a model built by hand

A spec read from a source is data, not the caller's: it is built through
`resreg.build.create_model_from_data` (checked by `resreg.trust`, sized against the source's tensors),
and what it would name as a weight source never counts: its weights are the ones beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.build import BuildContext, build_resolved, create_model_from_data, on_meta_device
from resreg.config.model_spec import WEIGHTS_KEYS, resolve_model_spec
from resreg.errors import ConfigError, ResregError, WeightsError
from resreg.loading.components import require_components
from resreg.loading.names import parse_source
from resreg.loading.sources import Source, open_source
from resreg.weights.adapt import adapt_state_dict
from resreg.weights.convert import convert_state_dict, strip_prefix_from, strip_wrapper_prefixes
from resreg.weights.safetensors_io import SPEC_KEY
from resreg.weights.strict import load_state_dict_strict

if TYPE_CHECKING:
    import torch


def create(
    name_or_spec: str | Mapping[str, Any], context: BuildContext, *, pretrained: bool | str | None = None, **args: Any
) -> torch.nn.Module:
    """`resreg.create_model`: a preset or spec with `args` on top, or a model named by where it is.

    `pretrained`: a weights source, True or None for the one the spec or preset names, False for none.
    A model named `hf-hub:...` or `local-dir:...` brings its own weights: True/None loads them, False not.
    """
    if isinstance(name_or_spec, str) and parse_source(name_or_spec).located:
        if isinstance(pretrained, str):
            raise ConfigError(
                f"{name_or_spec}: brings its own weights; pretrained= takes True or False here, not another "
                f"source ({pretrained!r})"
            )
        allow_pickle = bool(args.pop("pretrained_allow_pickle", False))
        skip_classifier = bool(args.pop("pretrained_skip_classifier", False))
        return model_from_source(
            name_or_spec, context, overrides=args, load_weights=pretrained is not False,
            allow_pickle=allow_pickle, skip_classifier=skip_classifier,
        )  # fmt: skip
    spec = dict(name_or_spec) if isinstance(name_or_spec, Mapping) else {"preset": name_or_spec}
    return model_from_spec({**spec, **args}, context, pretrained=pretrained)


def model_from_spec(spec: Any, context: BuildContext, *, pretrained: bool | str | None = None) -> torch.nn.Module:
    """Build a spec and load the weights its `pretrained:` (or the `pretrained` argument) names.

    A spec read from data (an untrusted context) gets no weights here: they are in the file it came
    from, and a weight source it named itself was refused by `resreg.trust` before it got here.
    """
    spec = resolve_model_spec(spec, context.registry)
    weights = {k: spec.pop(k) for k in WEIGHTS_KEYS if k in spec}
    source = pretrained if isinstance(pretrained, str) else weights.get("pretrained")
    model = build_resolved(spec, context)
    if source and pretrained is not False and context.trusted:
        opened = open_source(source, context.registry, allow_pickle=weights.get("pretrained_allow_pickle", False))
        fill(
            model, opened, context,
            skip_classifier=weights.get("pretrained_skip_classifier", False),
            strip_prefix=weights.get("pretrained_strip_prefix"),
        )  # fmt: skip
        model.resreg_pretrained = {"source": source, "commit": opened.commit}
    return model


def model_from_source(
    source: str | Path,
    context: BuildContext,
    *,
    overrides: Mapping[str, Any] | None = None,
    load_weights: bool = True,
    allow_pickle: bool = False,
    skip_classifier: bool = False,
) -> torch.nn.Module:
    """Rebuild the model a source describes, load its weights strictly and attach its preprocessing and labels.

    `overrides` are the caller's changes to the source's spec, applied as timm applies them
    (`num_classes` with `skip_classifier` for a fresh classifier, `in_chans` with the first conv
    adapted, `features_only`, any builder argument).
    """
    opened = open_source(source, context.registry, allow_pickle=allow_pickle)
    if opened.spec is None:
        raise WeightsError(
            f"{opened.where}: carries no model spec (no {SPEC_KEY!r} metadata, resreg.yaml or config.json); "
            "build the model yourself and pass this source as pretrained="
        )
    require_components(opened.components, context.registry, context.plugins, where=opened.where)
    where = opened.spec_from or opened.where
    if overrides:
        # The source's spec as it is gets the data checks that need its tensors (on the meta device: no
        # memory); the caller's changes on top of it are the caller's to make.
        with on_meta_device(opened.spec, context.registry):
            create_model_from_data(opened.spec, context, where=where, tensors=opened.tensors)
        model = create_model_from_data({**opened.spec, **overrides}, context, where=where)
    else:
        model = create_model_from_data(opened.spec, context, where=where, tensors=opened.tensors)
    if load_weights:
        fill(model, opened, context, skip_classifier=skip_classifier)
        model.resreg_pretrained = {"source": str(source), "commit": opened.commit}
    if opened.preprocessing is not None:  # model.pretrained_cfg, label_names (resreg.artifact)
        opened.preprocessing.attach(model)
    return model


def member_model(source: Any, context: BuildContext, where: str) -> torch.nn.Module:
    """An ensemble member from a preset, a spec, a saved file, a folder, a run directory or a repo.

    A member of a spec read from data must be an inline spec or a preset name, whose weights are in
    that same file: a path or a repo there would make data choose what resreg reads.
    """
    try:
        if isinstance(source, Mapping):
            return model_from_spec(source, context)
        if isinstance(source, str) and not context.trusted and ("model", source) in context.registry:
            return model_from_spec(source, context)  # a preset name: a spec, looked up, never a path
        if not context.trusted:
            raise WeightsError(
                f"{where}: refused: a member of a spec read from {context.origin} must be an inline spec whose "
                f"weights are in the same file, got {source!r}"
            )
        if not isinstance(source, str):
            raise ConfigError(f"{where}: a member is a preset, a spec, a path or hf-hub:owner/name, got {source!r}")
        name = parse_source(source)
        if name.hub_ref is not None or name.path.exists():
            return model_from_source(source, context)
        if ("model", source) in context.registry:
            return model_from_spec(source, context)
        raise ConfigError(f"{where}: {source!r} is neither a model preset nor an existing file, folder or hf-hub: repo")
    except ResregError as exc:
        message = str(exc)
        if message.startswith(("model.", "model:")):  # the member's own key path, put under the member's
            message = where + message.removeprefix("model")
        raise type(exc)(message if message.startswith(where) else f"{where}: {message}") from None


def load_pretrained(
    model: torch.nn.Module,
    source: str | Path,
    context: BuildContext,
    *,
    allow_pickle: bool = False,
    skip_classifier: bool = False,
    strip_prefix: str | None = None,
) -> Source:
    """Open `source` and `fill` `model` with its weights; returns the opened source."""
    opened = open_source(source, context.registry, allow_pickle=allow_pickle)
    fill(model, opened, context, skip_classifier=skip_classifier, strip_prefix=strip_prefix)
    return opened


def fill(
    model: torch.nn.Module,
    opened: Source,
    context: BuildContext,
    *,
    skip_classifier: bool = False,
    strip_prefix: str | None = None,
) -> None:
    """Convert, adapt and strictly load the tensors of an opened source into `model`."""
    tensors = opened.tensors
    if strip_prefix:  # after the wrappers' prefixes (module.model.x: module. first), before the converters
        tensors = strip_prefix_from(strip_wrapper_prefixes(tensors), strip_prefix)
    tensors = convert_state_dict(tensors, context.registry, where=opened.where)
    tensors, skip = adapt_state_dict(model, tensors, skip_classifier=skip_classifier, where=opened.where)
    load_state_dict_strict(model, tensors, where=opened.where, skip=skip)
