"""Building a model from its spec: the step every way of making a model goes through.

`build_spec` expands the presets, checks the arguments and calls the builder; the built module keeps
its full spec in `model.resreg_spec`, and the plugin distribution of each component it uses in
`model.resreg_components`, so saving a model saves what rebuilds it and what to install for that.
Weights are not its concern: `resreg.loading` adds them on top.

Everything a build needs besides the spec travels in a `BuildContext`, as an argument: the registry,
whether the spec is the caller's own or was read from data (and from where), and how to make a
member model. A builder that needs more than its arguments (an ensemble, which builds members)
declares a first positional parameter `context`; one that only builds components declares
`registry` (`def resnet(registry, /, *, ...)`) and is handed the registry.

A spec read from data (a file header, a repo's resreg.yaml) is built with `create_model_from_data`:
checked by `resreg.trust` first, sized on the meta device against the tensors it must hold, and built
in a context that says where it came from, so it gets no weight source of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from resreg.config.model_spec import WEIGHTS_KEYS, resolve_model_spec
from resreg.errors import ConfigError, ResregError, WeightsError
from resreg.registry import Registry
from resreg.trust import check_untrusted_spec
from resreg.weights.provenance import components_of, provenance

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need besides its arguments: handed to a builder declared `def b(context, /, *, ...)`.

    Attributes:
        registry: the registry the spec is built from (components, presets, converters).
        member_loader: makes a member model from any model source in a context (see `member`):
            resreg.loading's `member_model`, which refuses sources other than inline specs and preset
            names when the spec is untrusted.
        origin: the file or repo an untrusted spec was read from; None for the caller's own spec.
        plugins: how each plugin went (`resreg.plugins.PluginInfo`), to name a disabled or broken one
            that a spec needs.
    """

    registry: Registry
    member_loader: Callable[[Any, BuildContext, str], torch.nn.Module]
    origin: str | None = None
    plugins: Sequence[Any] = ()

    @property
    def trusted(self) -> bool:
        """Whether the spec is the caller's own (a Python call, a config, the CLI), not data read from a source."""
        return self.origin is None

    def untrusted(self, origin: str) -> BuildContext:
        """This context for a spec read from `origin` (a file or repo)."""
        return dataclasses.replace(self, origin=origin)

    def member(self, source: Any, where: str) -> torch.nn.Module:
        """A member model (of an ensemble) from `source`, built in this context; `where` names it in errors."""
        return self.member_loader(source, self, where)


def build_spec(spec: Any, context: BuildContext) -> torch.nn.Module:
    """Resolve `spec` (presets, argument checks) and build it, without its weights keys (`pretrained*`)."""
    spec = {k: v for k, v in resolve_model_spec(spec, context.registry).items() if k not in WEIGHTS_KEYS}
    return build_resolved(spec, context)


def build_resolved(spec: dict[str, Any], context: BuildContext) -> torch.nn.Module:
    """Build a resolved spec (`resolve_model_spec`, weights keys removed) and record it on the model."""
    registry = context.registry
    try:
        entry, args = registry.validate("builder", spec, "model")
        handed = {"context": (context,), "registry": (registry,)}.get(_first_positional(entry.obj), ())
        model = entry.obj(*handed, **args)
    except ConfigError as exc:  # raised by the builder itself: name the section it came from
        message = str(exc)
        raise ConfigError(message if message.startswith("model") else f"model.{message}") from None
    # A builder may record a more self-contained spec itself (an ensemble inlines its members).
    model.resreg_spec = getattr(model, "resreg_spec", None) or spec
    model.resreg_components = provenance(model.resreg_spec, registry)
    return model


def _first_positional(builder: Any) -> str | None:
    """The name of a builder's first parameter when it is positional (`context`, `registry`), else None."""
    target = builder.__init__ if inspect.isclass(builder) else builder
    parameters = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return parameters[0].name if parameters and parameters[0].kind in positional else None


def create_model_from_data(
    spec: Any, context: BuildContext, *, where: str, tensors: Mapping[str, torch.Tensor] | None = None
) -> torch.nn.Module:
    """Build a model from a spec read from data (a file header, a repo's resreg.yaml or config.json).

    The spec is checked by `resreg.trust.check_untrusted_spec` (no weight sources, paths, repos or
    pickle switches), then, when the `tensors` it must hold are given, built on the meta device to
    check that it is no bigger than they are, and only then built for real, in a context whose
    `origin` is `where`. Anything a builder raises on such data becomes a one-line `WeightsError`
    naming `where`.
    """
    spec = check_untrusted_spec(spec, where)
    context = context.untrusted(where)
    try:
        if tensors is not None:
            _check_size(spec, context, tensors, where)
        with _module_limit(tensors, where):
            return build_spec(spec, context)
    except ResregError as exc:  # e.g. `model.depths: ...`: say which file the spec came from
        message = str(exc)
        raise type(exc)(message if message.startswith(where) else f"{where}: {message}") from None
    except Exception as exc:  # RecursionError, MemoryError, ...: a builder choking on data it was never meant to get
        message = " ".join(str(exc).split())[:300]
        raise WeightsError(f"{where}: the model spec cannot be built ({type(exc).__name__}: {message})") from None


def _check_size(spec: dict[str, Any], context: BuildContext, tensors: Mapping[str, Any], where: str) -> None:
    """Refuse a spec whose model is far bigger than the file: built on the meta device, so it costs no memory."""
    try:
        with on_meta_device(spec, context.registry), _module_limit(tensors, where):
            model = build_spec(spec, context)
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
def on_meta_device(spec: Any, registry: Registry) -> Iterator[None]:
    """The meta device (tensors without memory), for building `spec`, entered once the components the spec
    names are imported: a plugin module first imported inside it would keep the tensors it makes at import
    (a constant, a buffer's default) on the meta device for good, and torch before 2.9 cannot even import
    torch._dynamo there (timm does: "Tensor.item() cannot be called on meta tensors")."""
    import torch

    try:
        for kind, name in components_of(resolve_model_spec(spec, registry), registry):
            registry.get(kind, name).obj  # noqa: B018 (the import is the point)
    except Exception:  # a spec that does not resolve: the build inside says what is wrong, and where
        pass
    with torch.device("meta"):
        yield


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
