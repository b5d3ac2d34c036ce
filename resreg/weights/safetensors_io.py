"""A model as one `.safetensors` file: its tensors plus, in the metadata, the spec that rebuilds it.

    save_model(model, "runs/r20/model.safetensors")
    model = resreg.load_model("runs/r20/model.safetensors")   # the spec is in the file

safetensors metadata is a flat `str -> str` mapping, so the spec is stored as JSON under
`resreg_spec`, next to `resreg_version` and whatever the caller adds (values that are not strings
are JSON-encoded too).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg import __version__
from resreg.artifact import header_entries
from resreg.errors import WeightsError
from resreg.io import atomic_path

if TYPE_CHECKING:
    import torch

SPEC_KEY = "resreg_spec"
VERSION_KEY = "resreg_version"
COMPONENTS_KEY = "resreg_components"  # which plugin distribution provides each component (provenance)


def save_model(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write `model`'s state dict and spec (`model.resreg_spec`) to `path` atomically; return the path.

    Besides the spec, the header records which plugin distribution provides each component of it
    (`resreg_components`, recorded on the model when it was built: `model.resreg_components`), so
    loading the file where a plugin is missing names what to install.

    Args:
        model: a model built by `resreg.create_model` (it carries `resreg_spec`); others are saved
            without a spec and can only be loaded into a model built by hand.
        path: the `.safetensors` file to write; its folder is created.
        metadata: extra values to keep in the file header (e.g. the train config); values that are
            not strings are stored as JSON.
    """
    import safetensors.torch
    import torch

    header = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    header[VERSION_KEY] = __version__
    header["format"] = "pt"  # what transformers/timm expect in a PyTorch safetensors file
    spec = getattr(model, "resreg_spec", None)
    if spec is not None:
        header[SPEC_KEY] = json.dumps(spec, sort_keys=True)
        header[COMPONENTS_KEY] = json.dumps(getattr(model, "resreg_components", None) or [])
    # A fresh contiguous copy of each tensor: safetensors refuses non-contiguous (channels_last)
    # and shared (tied) tensors, and a copy is both dense and unshared.
    tensors = {
        k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()
    }
    preprocessing, mean_image = header_entries(model)  # how to prepare images, class names (resreg.artifact)
    header |= preprocessing
    tensors |= mean_image
    path = Path(path)
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata=header)
    return path


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata of a safetensors file; an unreadable file is a `WeightsError`."""
    import safetensors
    import safetensors.torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
        tensors = safetensors.torch.load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt or truncated files
        raise WeightsError(f"{path}: not a valid safetensors file ({_one_line(exc)})") from None
    return tensors, metadata


def read_spec(path: str | os.PathLike[str], metadata: Mapping[str, str]) -> dict[str, Any]:
    """The model spec kept in a file's `resreg_spec` metadata (JSON)."""
    try:
        spec = json.loads(metadata[SPEC_KEY])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: the {SPEC_KEY!r} metadata is not valid JSON ({exc})") from None
    except RecursionError:
        raise WeightsError(f"{path}: the {SPEC_KEY!r} metadata is nested too deeply to be a model spec") from None
    if not isinstance(spec, dict):
        raise WeightsError(f"{path}: the {SPEC_KEY!r} metadata is not a mapping")
    return spec


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
