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
    """The keyword-only parameters of `factory` (a class or a function) with types, defaults and help.

    A class whose `__init__` forwards `**kwargs` to its parent's also accepts the parent's keyword-only
    parameters: they are collected up that chain (a block on `resreg.blocks.ResidualBlock` keeps
    `attn` and `zero_init_last` without restating them).
    """
    # A subclass inherits its bases' argument help (recipes document their fields once, on `Recipe`).
    docs = [c.__doc__ for c in reversed(factory.__mro__)] if inspect.isclass(factory) else [inspect.getdoc(factory)]
    chain = _signature_chain(factory)
    helps: dict[str, str] = {}
    for doc in [*docs, *(inspect.getdoc(target) for target in reversed(chain))]:
        helps |= _arg_help(inspect.cleandoc(doc or ""))
    params: dict[str, Param] = {}
    for target in chain:
        try:
            hints = typing.get_type_hints(target, include_extras=True)
        except Exception:  # an annotation that names something unimportable: fall back to the raw strings
            hints = {}
        for p in inspect.signature(target).parameters.values():
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in params:
                params[p.name] = Param(p.name, hints.get(p.name, p.annotation), p.default, helps.get(p.name, ""))
    return params


def accepts_any_keyword(factory: Any) -> bool:
    """Whether any keyword goes: the last callable of the forwarding chain takes `**kwargs` itself."""
    return _takes_var_keyword(_signature_chain(factory)[-1])


def parameter_names(factory: Any) -> set[str]:
    """Every parameter name of `factory` and of the `__init__`s it forwards `**kwargs` to, positional ones included."""
    return {name for target in _signature_chain(factory) for name in inspect.signature(target).parameters}


def documented_arguments(factory: Any) -> list[str]:
    """The `Args:` entry names that `factory` itself documents (a class: its docstring and its `__init__`'s)."""
    docs = [factory.__doc__]
    if inspect.isclass(factory) and "__init__" in vars(factory):
        docs.append(vars(factory)["__init__"].__doc__)
    return [name for doc in docs for name in _arg_help(inspect.cleandoc(doc or ""))]


def _signature_chain(factory: Any) -> list[Any]:
    """The callables whose keyword-only parameters `factory` accepts: itself (for a class its `__init__`)
    and, while an `__init__` takes `**kwargs`, the next `__init__` up the MRO, to which it forwards them."""
    if not inspect.isclass(factory):
        return [factory]
    chain = []
    for cls in factory.__mro__:
        init = vars(cls).get("__init__")
        if init is None or (cls is object and chain):
            continue
        chain.append(init)
        if not _takes_var_keyword(init):
            break
    return chain


def _takes_var_keyword(target: Any) -> bool:
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _arg_help(doc: str) -> dict[str, str]:
    """The whole text of each entry of a Google-style `Args:` section, its continuation lines joined."""
    helps: dict[str, str] = {}
    in_args, indent, current = False, None, None
    for line in doc.splitlines():
        if re.match(r"^\s*(Args|Arguments|Parameters):\s*$", line):
            in_args, indent, current = True, None, None
            continue
        if not in_args or not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            in_args = False  # the next section
            continue
        depth = len(line) - len(line.lstrip())
        match = re.match(r"^\s+\**(\w+)(?:\s*\(.*?\))?:\s*(.*)$", line)
        if match and (indent is None or depth <= indent):
            indent, current = depth, match.group(1)
            if current in helps:  # documented twice in one section: the first entry wins
                current = None
            else:
                helps[current] = match.group(2).strip()
        elif current is not None and indent is not None and depth > indent:
            helps[current] = f"{helps[current]} {line.strip()}"
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
