"""Opening a weights source: its tensors, plus what it says about the model (spec, provenance, preprocessing).

    model.safetensors / any .safetensors file    resreg's own (spec in the metadata) or anyone's
    a folder or run directory                    resreg's layout (resreg.yaml + model.safetensors), a run
                                                 directory's (model.safetensors) or timm's (config.json +
                                                 model.safetensors)
    hf-hub:owner/name[@revision]                 a Hub repo in either layout, through the local cache
    local-dir:/path                              a folder, as timm names one
    weights.pth / .pt / pytorch_model.bin        pickles: only with allow_pickle=True, and then only
                                                 through torch.load(weights_only=True)

Pickles are refused by default because unpickling can run code; `weights_only=True` limits what
they can contain to tensors and plain containers, and the opt-in makes the choice visible. Only the
caller opts in: what a source says is data (`resreg.trust`) and can switch nothing on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.artifact import Preprocessing, from_timm_config, read_header
from resreg.errors import WeightsError, did_you_mean
from resreg.hub.pull import download
from resreg.hub.resreg_yaml import read_resreg_yaml
from resreg.layout import MODEL_FILE, PICKLE_FILES, RESREG_FILE, TIMM_CONFIG_FILE
from resreg.loading.names import HUB_PREFIX, hub_name, parse_source
from resreg.registry import Registry
from resreg.trust import check_components
from resreg.weights.safetensors_io import COMPONENTS_KEY, SPEC_KEY, read_safetensors, read_spec

if TYPE_CHECKING:
    import torch

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
    preprocessing: Preprocessing | None = None  # how to prepare images, and the class names


def open_source(source: str | Path, registry: Registry, *, allow_pickle: bool = False) -> Source:
    """Read the tensors of `source` and whatever it records about the model (spec, components, commit).

    Args:
        source: a file, a folder, `hf-hub:owner/name[@revision]` or `local-dir:/path` (see the module docstring).
        registry: the registry in which a timm `architecture` is looked up as a preset.
        allow_pickle: accept `.pth`/`.pt`/`.bin` pickles, read with `torch.load(weights_only=True)`.
    """
    name = parse_source(source)
    if name.hub_ref is not None:
        folder, commit = download(name.hub_ref, allow_pickle=allow_pickle)
        opened = _open_folder(folder, allow_pickle, registry)
        opened.where, opened.commit = hub_name(name.repo_id, commit), commit
        opened.spec_from = opened.spec_from.replace(str(folder), opened.where)  # the repo, not the cache path
        return opened
    path = name.path
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


def _open_folder(folder: Path, allow_pickle: bool, registry: Registry) -> Source:
    weights = folder / MODEL_FILE
    pickles = [folder / name for name in PICKLE_FILES if (folder / name).is_file()]
    if weights.is_file():
        opened = _open_safetensors(weights)
    elif pickles:
        opened = Source(str(pickles[0]), _read_pickle(pickles[0], allow_pickle))
    else:
        found = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
        raise WeightsError(f"{folder}: no {MODEL_FILE} in this folder (found: {found})")
    resreg_file, timm_file = folder / RESREG_FILE, folder / TIMM_CONFIG_FILE
    if resreg_file.is_file():
        record = read_resreg_yaml(resreg_file)
        opened.spec = record["spec"]
        opened.components = check_components(record.get("components"), str(resreg_file))
        opened.spec_from = str(resreg_file)
        if opened.preprocessing is None and "pretrained_cfg" in record:
            opened.preprocessing = Preprocessing.from_json(record["pretrained_cfg"], str(resreg_file))
    if timm_file.is_file() and (opened.spec is None or opened.preprocessing is None):
        config = _read_timm_config(timm_file)
        if opened.spec is None:
            opened.spec, opened.spec_from = spec_from_timm_config(config, timm_file, registry), str(timm_file)
        if opened.preprocessing is None:  # weights without the record: the folder's config.json may have it
            opened.preprocessing = from_timm_config(config, str(timm_file))
    return opened


def _read_timm_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError(f"{path}: not a readable timm config ({_first_line(exc)})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: not a timm config (a JSON object with 'architecture')")
    return config


def spec_from_timm_config(config: Mapping[str, Any], path: Path, registry: Registry) -> dict[str, Any]:
    """A timm `config.json` -> a resreg model spec: `{preset: <architecture>, num_classes, in_chans}`.

    timm names weights `architecture.tag` (`resnet50.a1_in1k`); the part before the dot is the model,
    and resreg's presets use timm's model names. Of timm's `model_args` only the two that every
    builder shares and that change weight shapes are taken; the others are timm's own spellings
    (`global_pool`, `drop_rate`, ...), and one that changed the architecture shows up as a strict
    loading error naming the keys that do not fit.
    """
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
