"""Building a model from its spec: the step every way of making a model goes through.

`build_spec` expands the presets, checks the arguments and calls the builder; the built module keeps
its full spec in `model.resreg_spec`, so saving a model saves what rebuilds it. Weights are not its
concern: `resreg.models.create_model` adds `pretrained:` on top, `resreg.weights.load_model` fills a
model built from the spec its file carries.

A spec read from data (a file header, a repo's resreg.yaml) is built with `create_model_from_data`:
checked by `resreg.trust` first, sized on the meta device against the tensors it must hold, and
built with no weight source of its own (see `untrusted_origin`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from resreg.config.model_spec import WEIGHTS_KEYS, resolve_model_spec
from resreg.errors import ConfigError, ResregError, WeightsError
from resreg.plugins import get_registry
from resreg.registry import Registry
from resreg.trust import check_untrusted_spec

if TYPE_CHECKING:
    import torch

#: the file or repo an untrusted spec being built came from (None while building a trusted one)
_UNTRUSTED: contextvars.ContextVar[str | None] = contextvars.ContextVar("resreg_untrusted_origin", default=None)


def build_spec(spec: Any, registry: Registry) -> torch.nn.Module:
    """Resolve `spec` (presets, argument checks) and build it, without its weights keys (`pretrained*`)."""
    spec = {k: v for k, v in resolve_model_spec(spec, registry).items() if k not in WEIGHTS_KEYS}
    return build_resolved(spec, registry)


def build_resolved(spec: dict[str, Any], registry: Registry) -> torch.nn.Module:
    """Build a resolved spec (`resolve_model_spec`, weights keys removed) and record it on the model."""
    try:
        model = registry.build_model(spec, where="model")  # a builder that asks for the registry gets it
    except ConfigError as exc:  # raised by the builder itself: name the section it came from
        message = str(exc)
        raise ConfigError(message if message.startswith("model") else f"model.{message}") from None
    # A builder may record a more self-contained spec itself (an ensemble inlines its members).
    model.resreg_spec = getattr(model, "resreg_spec", None) or spec
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
    registry = get_registry() if registry is None else registry
    spec = check_untrusted_spec(spec, where)
    token = _UNTRUSTED.set(where)
    try:
        if tensors is not None:
            _check_size(spec, registry, tensors, where)
        with _module_limit(tensors, where):
            return build_spec(spec, registry)
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
            model = build_spec(spec, registry)
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
