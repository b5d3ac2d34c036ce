"""Where weights come from: the `pretrained:` sources, opened into tensors plus what they say about the model.

This module composes the rest: a weights file (`resreg.weights.safetensors_io`), what it carries
(`resreg.artifact`), a Hub download (`resreg.hub`), a model built from the spec a source carries
(`resreg.build`), and conversion, adaptation and strict loading. `load_pretrained` fills a model,
`load_model` rebuilds one from the source alone.

    model.safetensors / any .safetensors file    resreg's own (spec in the metadata) or anyone's
    a folder                                     resreg's layout (resreg.yaml + model.safetensors) or
                                                 timm's (config.json + model.safetensors)
    hf-hub:owner/name[@revision]                 a Hub repo in either layout, through the local cache
    weights.pth / .pt / pytorch_model.bin        pickles: only with allow_pickle=True, and then only
                                                 through torch.load(weights_only=True)

Pickles are refused by default because unpickling can run code; `weights_only=True` limits what
they can contain to tensors and plain containers, and the opt-in makes the choice visible. Only the
caller opts in: a spec read from a source is data (`resreg.trust`) and can switch nothing on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.artifact import read_folder, read_header
from resreg.build import create_model_from_data
from resreg.errors import WeightsError, did_you_mean
from resreg.hub.pull import download
from resreg.hub.resreg_yaml import read_resreg_yaml
from resreg.layout import MODEL_FILE, PICKLE_FILES, RESREG_FILE, TIMM_CONFIG_FILE
from resreg.plugins import get_registry
from resreg.registry import Registry
from resreg.trust import check_components
from resreg.weights.adapt import adapt_state_dict
from resreg.weights.convert import convert_state_dict, strip_prefix_from, strip_wrapper_prefixes
from resreg.weights.provenance import require_components
from resreg.weights.safetensors_io import COMPONENTS_KEY, SPEC_KEY, read_safetensors, read_spec
from resreg.weights.strict import load_state_dict_strict

if TYPE_CHECKING:
    import torch

HUB_PREFIX = "hf-hub:"
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


@dataclass
class Source:
    """An opened weights source."""

    where: str  # how messages name it: a path, or `hf-hub:owner/name@sha`
    tensors: dict[str, torch.Tensor]
    spec: dict[str, Any] | None = None  # the model spec it carries (resreg) or implies (timm), if any
    components: list[dict[str, str]] = field(default_factory=list)  # provenance, see resreg.weights.provenance
    commit: str | None = None  # the Hub commit sha it was read at
    spec_from: str = ""  # the file the spec was read from (the weights file, resreg.yaml or config.json)
    preprocessing: Any = None  # how to prepare images and the class names (resreg.artifact.Preprocessing)


def open_source(source: str | Path, *, allow_pickle: bool = False, registry: Registry | None = None) -> Source:
    """Read the tensors of `source` and whatever it records about the model (spec, components, commit).

    Args:
        source: a file, a folder or `hf-hub:owner/name[@revision]` (see the module docstring).
        allow_pickle: accept `.pth`/`.pt`/`.bin` pickles, read with `torch.load(weights_only=True)`.
        registry: the registry in which a timm `architecture` is looked up as a preset.
    """
    text = str(source)
    if text.startswith(HUB_PREFIX):
        folder, commit = download(text[len(HUB_PREFIX) :], allow_pickle=allow_pickle)
        opened = _open_folder(folder, allow_pickle, registry)
        opened.where, opened.commit = f"{HUB_PREFIX}{_repo_id(text)}@{commit}", commit
        opened.spec_from = opened.spec_from.replace(str(folder), opened.where)  # the repo, not the cache path
        return opened
    path = Path(text).expanduser()
    if path.is_dir():
        return _open_folder(path, allow_pickle, registry)
    if not path.exists():
        raise WeightsError(
            f"{path}: no such weights file or folder (a source is a .safetensors file, a folder with "
            f"{MODEL_FILE}, or {HUB_PREFIX}owner/name[@revision])"
        )
    if path.suffix in PICKLE_SUFFIXES:
        return Source(str(path), _read_pickle(path, allow_pickle))
    return _open_safetensors(path)


def _open_safetensors(path: Path) -> Source:
    tensors, metadata = read_safetensors(path)
    preprocessing = read_header(metadata, tensors, str(path))  # takes the mean image out of the tensors
    spec = read_spec(path, metadata) if SPEC_KEY in metadata else None
    try:
        components = json.loads(metadata.get(COMPONENTS_KEY, "[]"))
    except (json.JSONDecodeError, RecursionError):
        raise WeightsError(f"{path}: the {COMPONENTS_KEY!r} metadata is not valid JSON") from None
    components = check_components(components, str(path))
    return Source(str(path), tensors, spec, components, spec_from=str(path), preprocessing=preprocessing)


def _open_folder(folder: Path, allow_pickle: bool, registry: Registry | None) -> Source:
    weights = folder / MODEL_FILE
    pickles = [folder / name for name in PICKLE_FILES if (folder / name).is_file()]
    if weights.is_file():
        opened = _open_safetensors(weights)
    elif pickles:
        opened = Source(str(pickles[0]), _read_pickle(pickles[0], allow_pickle))
    else:
        found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise WeightsError(f"{folder}: no {MODEL_FILE} in this folder (found: {found})")
    if (folder / RESREG_FILE).is_file():
        record = read_resreg_yaml(folder / RESREG_FILE)
        opened.spec = record["spec"]
        opened.components = check_components(record.get("components"), str(folder / RESREG_FILE))
        opened.spec_from = str(folder / RESREG_FILE)
    elif (folder / TIMM_CONFIG_FILE).is_file() and opened.spec is None:
        opened.spec = spec_from_timm_config(folder / TIMM_CONFIG_FILE, registry)
        opened.spec_from = str(folder / TIMM_CONFIG_FILE)
    if opened.preprocessing is None:  # weights without the record: the folder's resreg.yaml or timm config.json
        opened.preprocessing = read_folder(folder)
    return opened


def spec_from_timm_config(path: Path, registry: Registry | None = None) -> dict[str, Any]:
    """A timm `config.json` -> a resreg model spec: `{preset: <architecture>, num_classes, in_chans}`.

    timm names weights `architecture.tag` (`resnet50.a1_in1k`); the part before the dot is the model,
    and resreg's presets use timm's model names. Of timm's `model_args` only the two that every
    builder shares and that change weight shapes are taken; the others are timm's own spellings
    (`global_pool`, `drop_rate`, ...), and one that changed the architecture shows up as a strict
    loading error naming the keys that do not fit.
    """
    registry = get_registry() if registry is None else registry
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError(f"{path}: not a readable timm config ({_first_line(exc)})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: not a timm config (a JSON object with 'architecture')")
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or len(architecture) > 200:
        raise WeightsError(f"{path}: architecture: expected a timm model name such as 'resnet50.a1_in1k'")
    name = architecture.split(".", 1)[0]
    if ("model", name) not in registry:
        raise WeightsError(f"{path}: architecture: {did_you_mean(name, registry.names('model'), 'resreg preset')}")
    model_args = config.get("model_args")
    model_args = model_args if isinstance(model_args, dict) else {}
    spec: dict[str, Any] = {"preset": name}
    for key in ("num_classes", "in_chans"):
        value = model_args.get(key, config.get(key))
        if isinstance(value, int) and not isinstance(value, bool):
            spec[key] = value
    return spec


def _read_pickle(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    import pickle

    import torch

    if not allow_pickle:
        raise WeightsError(
            f"{path}: a pickle file, and unpickling can run code; convert it to safetensors, or opt in with "
            "allow_pickle=True (config: model.pretrained_allow_pickle: true) to read it with "
            "torch.load(weights_only=True)"
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot be read as a weights-only state dict ({_first_line(exc)})") from None
    return _state_dict_in(loaded, path)


def _state_dict_in(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    """A bare state dict, or the one a training checkpoint keeps under `state_dict` / `model`."""
    import torch

    if isinstance(loaded, Mapping):
        if loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
            return dict(loaded)
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                return _state_dict_in(loaded[key], path)
    raise WeightsError(f"{path}: holds no state dict (a mapping of names to tensors, or one under 'state_dict')")


def _repo_id(source: str) -> str:
    return source[len(HUB_PREFIX) :].split("@", 1)[0]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def load_pretrained(
    model: torch.nn.Module,
    source: str | Path,
    *,
    allow_pickle: bool = False,
    skip_classifier: bool = False,
    strip_prefix: str | None = None,
    registry: Registry | None = None,
) -> Source:
    """Load the weights of `source` into `model` strictly, after conversion and adaptation.

    Keys are converted (wrapper prefixes, registered converters), the first conv is adapted to the
    model's `in_chans`, and the classifier is left out when the model has none, or when the class
    count differs and `skip_classifier` is set. Returns the opened source (its `commit` is the Hub
    sha to record).

    Args:
        model: the model to fill (built with `resreg.create_model`, or any module with timm's
            `pretrained_cfg`).
        source: a file, a folder or `hf-hub:owner/name[@revision]`.
        allow_pickle: accept pickled `.pth`/`.pt`/`.bin` state dicts (read with weights_only=True).
        skip_classifier: when the class counts differ, load everything but the classifier.
        strip_prefix: a prefix to remove from every key that starts with it (`model.` of a checkpoint
            saved from a wrapper module); the strict-loading error names it when it is needed.
        registry: the registry with the weight converters (default: the one every plugin filled).
    """
    registry = get_registry() if registry is None else registry
    opened = open_source(source, allow_pickle=allow_pickle, registry=registry)
    fill(model, opened, registry, skip_classifier=skip_classifier, strip_prefix=strip_prefix)
    return opened


def fill(
    model: torch.nn.Module,
    opened: Source,
    registry: Registry,
    *,
    skip_classifier: bool = False,
    strip_prefix: str | None = None,
) -> None:
    """Convert, adapt and strictly load the tensors of an opened source into `model`."""
    tensors = opened.tensors
    if strip_prefix:  # after the wrappers' prefixes (module.model.x: module. first), before the converters
        tensors = strip_prefix_from(strip_wrapper_prefixes(tensors), strip_prefix)
    tensors = convert_state_dict(tensors, registry, where=opened.where)
    tensors, skip = adapt_state_dict(model, tensors, skip_classifier=skip_classifier, where=opened.where)
    load_state_dict_strict(model, tensors, where=opened.where, skip=skip)


def load_model(
    source: str | os.PathLike[str], *, registry: Registry | None = None, allow_pickle: bool = False
) -> torch.nn.Module:
    """Rebuild a model from a source that carries its spec, and load its weights strictly.

    A file written by `save_model`, a resreg folder or Hub repo (`resreg.yaml`), or a timm folder or
    repo (`config.json`: its `architecture` is the resreg preset of that name) all rebuild with no
    other input. Components the spec names but no installed plugin provides are reported with the
    distribution that the source says provides them.

    Args:
        source: a `.safetensors` file, a folder, or `hf-hub:owner/name[@revision]`.
        registry: the registry to build from (default: the one every installed plugin filled).
        allow_pickle: accept a timm folder whose weights are a pickle (`pytorch_model.bin`); only
            this argument enables pickles, never anything the source itself says.
    """
    registry = get_registry() if registry is None else registry
    opened = open_source(source, allow_pickle=allow_pickle, registry=registry)
    if opened.spec is None:
        raise WeightsError(
            f"{opened.where}: carries no model spec (no {SPEC_KEY!r} metadata, resreg.yaml or config.json); "
            "build the model yourself and pass this source as pretrained="
        )
    require_components(opened.components, registry, where=opened.where)
    # The spec is data from the source, not the caller's: checked and built as such (see resreg.trust).
    model = create_model_from_data(opened.spec, where=opened.spec_from or opened.where, registry=registry,
                                   tensors=opened.tensors)  # fmt: skip
    fill(model, opened, registry)
    if opened.preprocessing is not None:  # model.pretrained_cfg, label_names (resreg.artifact)
        opened.preprocessing.attach(model)
    return model
