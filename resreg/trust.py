"""The trust boundary: a spec read from data may describe an architecture and nothing else.

What the user passes (CLI arguments and overrides, their own config files, a Python call) is
trusted. A spec read from data is not: a `.safetensors` header (`resreg_spec`), a repo's
`resreg.yaml` or `config.json`, anything pulled, the ensemble members nested in those. Such a spec
is checked here before anything is built from it, and refused (one line naming the key and the
file) when it

- names a weight source or switches loading behaviour: `pretrained`, `pretrained_allow_pickle`,
  any other `pretrained_*` key, or a key that names a path, file, folder, URL, repo or checkpoint;
- holds a value that reads as a path, a URL or a repo (`/`, `\\`, `~`, a leading `.`, a scheme
  such as `hf-hub:` or `C:`, a weights or config file name), or a control character (messages stay
  one line);
- is not plain data of a sane size (nesting deeper than `MAX_DEPTH`, more than `MAX_NODES` values,
  strings longer than `MAX_STRING`, keys that are not strings).

Pickles are never enabled by data: only the caller's own `allow_pickle=True` (or
`pretrained_allow_pickle: true` in their config) turns them on. Ensemble members of an untrusted
spec must be inline specs whose weights are in the same file (the spec is built in a
`resreg.build.BuildContext` that says where it came from).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from resreg.errors import WeightsError

MAX_DEPTH = 32
MAX_NODES = 20_000
MAX_STRING = 200

#: keys that name where weights come from or how they are read (not `weights`: the weighted combiner's numbers)
_SOURCE_KEYS = frozenset(
    {"pretrained", "checkpoint", "ckpt", "path", "paths", "file", "files", "filename", "url", "urls",
     "uri", "repo", "repo_id", "hub", "root", "dir", "directory", "source", "sources", "resume", "cache_dir"}
)  # fmt: skip
_SOURCE_SUFFIXES = ("_path", "_paths", "_file", "_files", "_url", "_uri", "_dir", "_repo", "_root", "_source")
#: data that names no source (timm's `pretrained_cfg`, class names): kept as it is, never walked for paths
DATA_KEYS = frozenset({"pretrained_cfg", "label_names"})
#: file names a value must not end with: weights, pickles, configs
_FILE_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pkl", ".pickle", ".npz", ".yaml", ".yml", ".json")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: a scheme or drive before a colon: hf-hub:, local-dir:, file:, https:, C: (no name in a spec has one)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*:")


def check_untrusted_spec(spec: Any, where: str) -> dict[str, Any]:
    """Return `spec` when it only describes an architecture; else raise a one-line `WeightsError`.

    Args:
        spec: the spec as read (JSON or YAML data).
        where: the file or repo it came from, for messages (`hf-hub:me/r20@3f2a...: resreg.yaml`).
    """
    if not isinstance(spec, Mapping):
        raise WeightsError(f"{where}: the model spec is not a mapping (got {type(spec).__name__})")
    budget = [MAX_NODES]
    _walk(spec, "spec", where, 0, budget)
    return dict(spec)


def refusal(key: str) -> str | None:
    """Why a key may not appear in an untrusted spec, or None when it may."""
    name = key.lower()
    if name in DATA_KEYS:
        return None
    if name.startswith("pretrained") or "pickl" in name:  # allow_pickle, unpickle, unpickling, ...
        return "names a weight source or how weights are read"
    if name in _SOURCE_KEYS or name.endswith(_SOURCE_SUFFIXES):
        return "names a path, URL, repo or weight source"
    return None


def _walk(node: Any, key_path: str, where: str, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise WeightsError(f"{where}: the model spec holds more than {MAX_NODES} values; not a model spec")
    if depth > MAX_DEPTH:
        raise WeightsError(f"{where}: {key_path}: nested deeper than {MAX_DEPTH} levels; not a model spec")
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str):
                raise WeightsError(f"{where}: {key_path}: key {key!r} is not a name")
            _check_string(key, key_path, where)
            inner = f"{key_path}.{key}"
            why = refusal(key)
            if why:
                raise WeightsError(
                    f"{where}: {inner}: refused: a spec read from a file or repo {why}; only the caller "
                    "chooses weight sources (a spec argument, a config of your own, or pretrained=)"
                )
            if key not in DATA_KEYS:
                _walk(value, inner, where, depth + 1, budget)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _walk(value, f"{key_path}.{i}", where, depth + 1, budget)
    elif isinstance(node, str):
        _check_string(node, key_path, where)
        if _looks_like_a_location(node):
            raise WeightsError(
                f"{where}: {key_path}: refused: {node!r} reads as a path, URL or repo, and a spec read from a "
                "file or repo may only describe an architecture"
            )
    elif not (node is None or isinstance(node, (bool, int, float))):
        raise WeightsError(f"{where}: {key_path}: a {type(node).__name__} is not spec data")


def _check_string(text: str, key_path: str, where: str) -> None:
    if len(text) > MAX_STRING:
        raise WeightsError(f"{where}: {key_path}: a string of {len(text)} characters; names are short")
    if _CONTROL.search(text):
        raise WeightsError(f"{where}: {key_path}: {text[:40]!r} holds control characters")


def _looks_like_a_location(text: str) -> bool:
    return (
        "/" in text
        or "\\" in text
        or text.startswith(("~", "."))
        or "://" in text
        or _SCHEME.match(text) is not None
        or text.lower().endswith(_FILE_SUFFIXES)
    )


#: a distribution name as packaging spells one (PEP 508): what a `pip install` hint may name
_DISTRIBUTION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")


def check_components(records: Any, where: str) -> list[dict[str, str]]:
    """The provenance records of an untrusted source: a list of `{kind, name, distribution, version}`.

    Their `distribution` ends up in a `pip install` hint, so it must be a plain distribution name.
    """
    if records is None:
        return []
    if not isinstance(records, list) or len(records) > 1000:
        raise WeightsError(f"{where}: components: expected a list of {{kind, name, distribution, version}}")
    checked = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or not all(isinstance(record.get(k), str) for k in ("kind", "name")):
            raise WeightsError(f"{where}: components.{i}: expected a mapping with kind, name, distribution, version")
        fields = {k: str(record.get(k, "?")) for k in ("kind", "name", "distribution", "version")}
        for key, value in fields.items():
            _check_string(value, f"components.{i}.{key}", where)
        if fields["distribution"] != "?" and not _DISTRIBUTION.match(fields["distribution"]):
            raise WeightsError(
                f"{where}: components.{i}.distribution: {fields['distribution']!r} is not a distribution name"
            )
        checked.append(fields)
    return checked
