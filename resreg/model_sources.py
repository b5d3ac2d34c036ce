"""Models named by where they are, as timm names them: `hf-hub:owner/name[@revision]` and `local-dir:/path`.

    resreg.create_model("hf-hub:me/resnet20-fmnist")                    # spec + weights + preprocessing
    resreg.create_model("local-dir:weights/r20", num_classes=5, pretrained_skip_classifier=True)

The repo or folder says what to build (resreg.yaml, the weights file's header, or a timm config.json)
and holds the weights. Its spec is data, not the caller's: it is built through
`resreg.build.create_model_from_data` (checked by `resreg.trust`, sized against the file's tensors).
The caller's arguments are applied on top, as timm applies them: `num_classes` (with
`pretrained_skip_classifier=True` when it differs from the repo's, so the classifier starts fresh),
`in_chans` (the first conv adapted), `features_only`, `out_indices`, any builder argument.
`pretrained=False` builds the architecture without loading the weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resreg.build import create_model_from_data
from resreg.errors import ConfigError, WeightsError
from resreg.registry import Registry
from resreg.weights.provenance import require_components
from resreg.weights.sources import fill, open_source

if TYPE_CHECKING:
    import torch

HUB_PREFIX = "hf-hub:"
LOCAL_PREFIX = "local-dir:"
PREFIXES = (HUB_PREFIX, LOCAL_PREFIX)


def is_located(name: Any) -> bool:
    """Whether `name` is a model name with a location (`hf-hub:...`, `local-dir:...`) rather than a preset."""
    return isinstance(name, str) and name.startswith(PREFIXES)


def create_located_model(
    name: str, *, pretrained: bool | str | None = None, registry: Registry, **overrides: Any
) -> torch.nn.Module:
    """Build the model a repo or folder describes, load its weights and attach its preprocessing and labels."""
    import torch  # here, not at the top: resreg.models (and `resreg list`'s plugins) import this module

    if isinstance(pretrained, str):
        raise ConfigError(
            f"{name}: brings its own weights; pretrained= takes True or False here, not another source ({pretrained!r})"
        )
    skip_classifier = bool(overrides.pop("pretrained_skip_classifier", False))
    allow_pickle = bool(overrides.pop("pretrained_allow_pickle", False))
    source = name if name.startswith(HUB_PREFIX) else name[len(LOCAL_PREFIX) :]
    opened = open_source(source, allow_pickle=allow_pickle, registry=registry)
    if opened.spec is None:
        raise WeightsError(f"{opened.where}: carries no model spec (resreg.yaml, a resreg weights file or config.json)")
    require_components(opened.components, registry, where=opened.where)
    where = opened.spec_from or opened.where
    if overrides:
        # The repo's spec as it is gets the data checks that need its tensors (on the meta device: no
        # memory); the caller's changes on top of it are the caller's to make.
        with torch.device("meta"):
            create_model_from_data(opened.spec, where=where, registry=registry, tensors=opened.tensors)
        model = create_model_from_data({**opened.spec, **overrides}, where=where, registry=registry)
    else:
        model = create_model_from_data(opened.spec, where=where, registry=registry, tensors=opened.tensors)
    if pretrained is not False:
        fill(model, opened, registry, skip_classifier=skip_classifier)
        model.resreg_pretrained = {"source": name, "commit": opened.commit}
    if opened.preprocessing is not None:
        opened.preprocessing.attach(model)
    return model
