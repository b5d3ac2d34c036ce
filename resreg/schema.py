"""The argument schema of a registered component, read from its factory's signature.

Convention: the *keyword-only* parameters of a factory are what a spec may set; positional ones
(channel counts, strides, ...) are supplied by the builder that instantiates it. So

    class BasicBlock(nn.Module):
        def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *,
                     drop_path_rate: float = 0.0, zero_init_last: bool = False): ...
            \"\"\"...
            Args:
                drop_path_rate: probability of dropping the residual branch (stochastic depth).
            \"\"\"

has the schema `drop_path_rate: float = 0.0`, `zero_init_last: bool = False`, each with its help
line from the docstring. A parameter annotated `Ref("block")` holds a nested spec of that kind.
Types are checked here, not by OmegaConf, because specs use Literal and unions that structured
configs cannot express.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Ref:
    """Annotation marker: the value is a spec (a name or a mapping with `type:`) of registry kind `kind`."""

    kind: str


def ref(kind: str) -> Any:
    """Annotation for a parameter that holds a nested component spec: `block: ref("block") = "basic"`."""
    return typing.Annotated[Union[str, dict], Ref(kind)]  # noqa: UP007 - a runtime object, not syntax


@dataclass(frozen=True)
class Param:
    """One settable argument of a component."""

    name: str
    annotation: Any
    default: Any = _MISSING
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def kind_ref(self) -> str | None:
        """The registry kind of a nested spec parameter, or None."""
        for meta in getattr(self.annotation, "__metadata__", ()):
            if isinstance(meta, Ref):
                return meta.kind
        return None

    def type_name(self) -> str:
        return type_name(self.annotation)

    def default_repr(self) -> str:
        return "(required)" if self.required else repr(self.default)


def params_of(factory: Any) -> dict[str, Param]:
    """The keyword-only parameters of `factory` (a class or a function) with types, defaults and help."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    signature = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # an annotation that names something unimportable: fall back to the raw strings
        hints = {}
    # A subclass inherits its bases' argument help (recipes document their fields once, on `Recipe`).
    docs = [c.__doc__ for c in reversed(factory.__mro__)] if inspect.isclass(factory) else [inspect.getdoc(factory)]
    helps: dict[str, str] = {}
    for doc in [*docs, inspect.getdoc(target)]:
        helps |= _arg_help(inspect.cleandoc(doc or ""))
    return {
        p.name: Param(p.name, hints.get(p.name, p.annotation), p.default, helps.get(p.name, ""))
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def accepts_any_keyword(factory: Any) -> bool:
    target = factory.__init__ if inspect.isclass(factory) else factory
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(target).parameters.values())


def _arg_help(doc: str) -> dict[str, str]:
    """First line of each entry of a Google-style `Args:` section."""
    helps: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if re.match(r"^\s*(Args|Arguments|Parameters):\s*$", line):
            in_args = True
            continue
        if in_args:
            if line.strip() and not line.startswith((" ", "\t")):
                break  # the next section
            match = re.match(r"^\s+(\w+)(?:\s*\(.*?\))?:\s*(.*)$", line)
            if match and match.group(1) not in helps:
                helps[match.group(1)] = match.group(2).strip()
    return helps


def type_name(annotation: Any) -> str:
    if annotation is _MISSING or annotation is Any:
        return "any"
    if isinstance(annotation, str):
        return annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        kind = next((m.kind for m in annotation.__metadata__ if isinstance(m, Ref)), None)
        return f"{kind} spec" if kind else type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin in (list, tuple, Sequence):
        return f"list[{type_name(args[0])}]" if args else "list"
    if origin in (dict, Mapping):
        return "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def check_value(value: Any, annotation: Any) -> bool:
    """Whether a plain (YAML-loaded) value fits the annotation. Unknown annotations accept anything."""
    if annotation is _MISSING or annotation is Any or isinstance(annotation, str):
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return check_value(value, args[0])
    if origin is Literal:
        return value in args
    if origin in (Union, types.UnionType):
        return any(check_value(value, a) for a in args)
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(check_value(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(check_value(v, args[0]) for v in value)
    if origin in (dict, Mapping):
        return isinstance(value, Mapping)
    if annotation is type(None):
        return value is None
    if annotation is float:  # YAML writes 1 for 1.0; bool is an int subclass but never a number here
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True
