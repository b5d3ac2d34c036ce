"""The hook reference page, from resreg/hookspecs.py: each hook's signature and docstring, in file order."""

from __future__ import annotations

import inspect

from resreg import hookspecs


def page() -> str:
    lines = [
        "# Hook reference",
        "",
        "*Generated from `resreg/hookspecs.py` when this site was built.*",
        "",
        inspect.getdoc(hookspecs) or "",
    ]
    for name, function in _hooks():
        lines += [
            "",
            f"## `{name}`",
            "",
            "```python",
            "@resreg.hookimpl",
            f"def {name}({_parameters(function)}) -> {_annotation(function.__annotations__['return'])}: ...",
            "```",
            "",
            inspect.getdoc(function) or "",
        ]
    lines.append("")
    return "\n".join(lines)


def _parameters(function: object) -> str:
    """`run: Any, metrics: dict[str, float]` as written in the source (annotations are strings there)."""
    parameters = inspect.signature(function).parameters.values()
    return ", ".join(f"{p.name}: {_annotation(p.annotation)}" for p in parameters)


def _annotation(annotation: object) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _hooks() -> list[tuple[str, object]]:
    """The functions pluggy knows as hookspecs (marked `@hookspec`), in the order they are written."""
    marker = f"{hookspecs.PROJECT}_spec"
    found = [(name, f) for name, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, marker)]
    return sorted(found, key=lambda item: item[1].__code__.co_firstlineno)
