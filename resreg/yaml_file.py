"""YAML read as data, with limits: `read_yaml(path)` for the YAML files resreg reads from outside.

A YAML file is data from outside (a config someone sent, a `resreg.yaml` pulled from the Hub), so it
is read within limits that hold before the memory or the time it would take:
- at most MAX_YAML_BYTES (1 MiB) on disk, checked before a byte is parsed: a 50 MB file is refused
  from its size, not after it filled 830 MB of memory;
- anchors and aliases may expand the document to at most MAX_EXPANDED_NODES nodes: a "billion laughs"
  file (each level an alias list of the one below) is 100 bytes that expand to 10^9 values, and
  resreg's config handling copies what it reads, so the expansion is counted on the parsed node graph,
  before anything is built from it. A document that refers to itself (`&a [*a]`) is refused too;
- nesting as deep as Python's recursion allows, one line otherwise.
Only plain YAML data is built (PyYAML's safe loader): no tags that construct objects. Numbers are read
as YAML 1.2 (OmegaConf, JSON) reads them: `1e-4` is a float, where PyYAML's YAML 1.1 makes it a string.
`yaml_value` reads one value as written on a command line (`train.lr=1e-4`) the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from resreg.errors import ConfigError, ResregError

#: the largest YAML file resreg reads (a config, a resreg.yaml): 1 MiB; real ones are a few KiB
MAX_YAML_BYTES = 1 << 20
#: the most nodes (mappings, lists, scalars) aliases may expand a document to (a file without aliases is
#: bounded by its size alone)
MAX_EXPANDED_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2's floats without a dot or a sign in the exponent (`1e-4`, `3E5`,
    `1.0e4`): YAML 1.1 reads those as strings, so `lr: 1e-4` failed as "not a valid float"."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def yaml_value(text: str) -> Any:
    """One YAML value as a command line writes it (`0.1`, `1e-4`, `[1, 2]`, `{type: B}`); raises yaml.YAMLError."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data only


def read_yaml(path: Path, *, error: type[ResregError] = ConfigError) -> Any:
    """The data of the YAML file at `path`, read within the limits above; each failure is one `error` line."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_YAML_BYTES + 1)  # never more, whatever the size said a moment ago
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise error(
            f"{path}: {path.stat().st_size:,} bytes is over the {MAX_YAML_BYTES:,} bytes (1 MiB) resreg reads "
            "from a YAML file; a config or resreg.yaml is a few KiB"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read: not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, str(path), error=error)


def parse_yaml(text: str, where: str, *, error: type[ResregError] = ConfigError) -> Any:
    """The data of one YAML document, within the alias and nesting limits; `where` names it in errors."""
    try:
        loader = _Loader(text)  # checks the characters already
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expansion(node, where, error)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}{at}: invalid YAML: {problem}") from None
    except RecursionError:
        raise error(f"{where}: YAML nested too deep to read (lists or mappings inside each other)") from None


def _check_expansion(root: yaml.Node, where: str, error: type[ResregError]) -> None:
    """Refuse a document whose aliases expand it past MAX_EXPANDED_NODES, or that contains itself.

    An alias is the very node object of its anchor, so the size of every node is counted once and
    reused: linear in the parsed file, whatever the expansion.
    """
    sizes: dict[int, int | None] = {}  # node id -> expanded size; None while its children are counted

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            known = sizes[key]
            if known is None:
                raise error(f"{where}: YAML anchor contains an alias of itself (a document without end)")
            return known
        sizes[key] = None
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        else:
            total = 1
        if total > MAX_EXPANDED_NODES and total > len(sizes):  # more than the nodes written: aliases expanded
            raise error(
                f"{where}: YAML aliases expand it past {MAX_EXPANDED_NODES:,} values (a 'billion laughs' "
                "file?); write the values out instead of through anchors"
            )
        sizes[key] = total
        return total

    size(root)
