"""Building models from specs: `create_model`, `list_models` and preset expansion.

A model spec is one of
    "resnet50"                                   a preset (registry kind `model`)
    {preset: resnet50, num_classes: 10}          a preset with arguments changed
    {type: resnet, block: basic, depths: [...]}  a builder (registry kind `builder`) and its arguments
Presets are specs themselves (usually `{type: <builder>, ...}`), so they expand to the last form.
Every builder takes the keyword-only arguments `num_classes`, `in_chans`, `features_only` and
`out_indices` where its family supports them. The built module keeps its full spec in
`model.resreg_spec`, so saving a model saves what rebuilds it.

A spec read from data (a file header, a repo's resreg.yaml) is built with `create_model_from_data`:
checked by `resreg.trust` first, sized on the meta device against the tensors it must hold, and
built with no weight source of its own (see `untrusted_origin`).
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from resreg.config.loader import merge
from resreg.errors import ConfigError, RegistryError, ResregError, WeightsError
from resreg.registry import Registry

if TYPE_CHECKING:
    import torch

#: keys of a preset that describe it (for `resreg list` and the model zoo) and are not builder arguments:
#: `help` (one line) and `meta` (e.g. `{paper: "He et al. 2015", paper_error: 8.75, dataset: cifar10}`).
PRESET_INFO_KEYS = ("help", "meta")


#: keys of a model section that say where its weights come from, not what it is (see `create_model`).
WEIGHTS_KEYS = ("pretrained", "pretrained_allow_pickle", "pretrained_skip_classifier", "pretrained_strip_prefix")

#: the file or repo an untrusted spec being built came from (None while building a trusted one)
_UNTRUSTED: contextvars.ContextVar[str | None] = contextvars.ContextVar("resreg_untrusted_origin", default=None)


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
            For a model named `hf-hub:...` or `local-dir:...` (see resreg.model_sources), which brings
            its own weights: False to build it without them.
        registry: the registry to build from (default: the one every installed plugin filled).
        **overrides: any other argument of the builder, e.g. `drop_path_rate=0.1`, `shortcut="A"`.
    """
    from resreg.model_sources import create_located_model, is_located

    if registry is None:
        from resreg.plugins import get_registry

        registry = get_registry()
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
            strip_prefix=weights.get("pretrained_strip_prefix"),
            registry=registry,
        )
        model.resreg_pretrained = {"source": pretrained, "commit": getattr(source, "commit", None)}
    return model


def untrusted_origin() -> str | None:
    """The file or repo whose spec is being built by `create_model_from_data`; None for a trusted spec.

    A builder that takes model sources (an ensemble's members) accepts only inline specs while this
    is set: a member named by a path, a run dir or a repo would make data choose what is read.
    """
    return _UNTRUSTED.get()


def create_model_from_data(
    spec: Any, *, where: str, registry: Registry | None = None, tensors: Mapping[str, torch.Tensor] | None = None
) -> torch.nn.Module:
    """Build a model from a spec read from data (a file header, a repo's resreg.yaml or config.json).

    The spec is checked by `resreg.trust.check_untrusted_spec` (no weight sources, paths, repos or
    pickle switches), then, when the `tensors` it must hold are given, built on the meta device to
    check that it is no bigger than they are, and only then built for real. Anything a builder raises
    on such data becomes a one-line `WeightsError` naming `where`.
    """
    from resreg.trust import check_untrusted_spec

    if registry is None:
        from resreg.plugins import get_registry

        registry = get_registry()
    spec = check_untrusted_spec(spec, where)
    token = _UNTRUSTED.set(where)
    try:
        if tensors is not None:
            _check_size(spec, registry, tensors, where)
        with _module_limit(tensors, where):
            return create_model(spec, registry=registry)
    except ResregError as exc:  # e.g. `model.depths: ...`: say which file the spec came from
        message = str(exc)
        raise type(exc)(message if message.startswith(where) else f"{where}: {message}") from None
    except Exception as exc:  # RecursionError, MemoryError, ...: a builder choking on data it was never meant to get
        message = " ".join(str(exc).split())[:300]
        raise WeightsError(f"{where}: the model spec cannot be built ({type(exc).__name__}: {message})") from None
    finally:
        _UNTRUSTED.reset(token)


def _check_size(spec: dict[str, Any], registry: Registry, tensors: Mapping[str, Any], where: str) -> None:
    """Refuse a spec whose model is far bigger than the file: built on the meta device, so it costs no memory."""
    import torch

    try:
        with torch.device("meta"), _module_limit(tensors, where):
            model = create_model(spec, registry=registry)
    except ResregError:
        raise
    except Exception:  # a builder that needs real tensors: the real build below reports what is wrong
        return
    wanted = sum(t.numel() for t in model.state_dict().values())
    held = sum(t.numel() for t in tensors.values())
    # Only a gross excess is refused here: a near miss builds (cheaply) and gets strict loading's key listing.
    if wanted > 2 * held + 1_000_000:
        raise WeightsError(
            f"{where}: the model spec describes {wanted:,} weight values but the file holds {held:,}; "
            "the spec and the weights do not belong together"
        )


@contextlib.contextmanager
def _module_limit(tensors: Mapping[str, Any] | None, where: str) -> Iterator[None]:
    """Stop a build that registers far more modules and tensors than the file has tensors (depths: [10**9])."""
    if tensors is None:
        yield
        return
    from torch.nn.modules import module as torch_module

    limit = [8 * len(tensors) + 256]

    def count(*_: Any) -> None:
        limit[0] -= 1
        if limit[0] < 0:
            raise WeightsError(
                f"{where}: the model spec builds far more layers than the file has tensors ({len(tensors)}); "
                "the spec and the weights do not belong together"
            )

    handles = [
        torch_module.register_module_module_registration_hook(count),
        torch_module.register_module_parameter_registration_hook(count),
        torch_module.register_module_buffer_registration_hook(count),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def list_models(pattern: str = "*", registry: Registry | None = None) -> list[str]:
    """Names of the registered model presets matching a shell-style pattern (`resnet*`)."""
    if registry is None:
        from resreg.plugins import get_registry

        registry = get_registry()
    return [n for n in registry.names("model") if fnmatch.fnmatch(n, pattern)]
