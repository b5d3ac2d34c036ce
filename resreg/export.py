"""Export a model for runtimes without resreg: ONNX (`torch.onnx.export(dynamo=True)`) or a `torch.export` program.

    export_onnx(model, "model.onnx")        # input `images` [batch, C, H, W], batch dynamic; output `logits`
    export_program(model, "model.pt2")      # torch.export.save; torch.export.load(...).module()(x)

Both trace the model in eval mode on an example batch of its `pretrained_cfg["input_size"]` (or the
`input_size` given): the batch dimension stays dynamic, height and width are those of the example.
The ONNX file carries the preprocessing and the class names as `metadata_props`
(`resreg_pretrained_cfg`, `label_names`, `resreg_mean_image` for a per-pixel mean, `resreg_spec`),
so an application can prepare images for it without resreg.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from resreg import __version__
from resreg.artifact import Preprocessing
from resreg.errors import ConfigError, ResregError
from resreg.io import refusals_named

if TYPE_CHECKING:
    import torch

FORMATS = {"onnx": ".onnx", "pt2": ".pt2"}
EXAMPLE_BATCH = 2  # not 1: torch.export specialises a dimension of size 1, and the batch must stay dynamic


def example_input(model: torch.nn.Module, input_size: tuple[int, int] | None = None) -> torch.Tensor:
    """A random batch of EXAMPLE_BATCH images of the model's input size ((H, W) overrides the spatial size)."""
    import torch

    cfg = getattr(model, "pretrained_cfg", None) or {}
    if "input_size" not in cfg:
        raise ConfigError("the model has no pretrained_cfg input_size: build it with resreg.create_model")
    channels, height, width = cfg["input_size"]
    if input_size is not None:
        height, width = input_size
    return torch.randn(EXAMPLE_BATCH, channels, height, width, generator=torch.Generator().manual_seed(0))


def export_onnx(
    model: torch.nn.Module, path: str | os.PathLike[str], *, input_size: tuple[int, int] | None = None
) -> Path:
    """Write `model` as an ONNX file with a dynamic batch dimension and its preprocessing as metadata."""
    import torch

    x = example_input(model, input_size)
    with _eval(model), _one_line(f"ONNX export of {_name(model)}"):
        program = torch.onnx.export(
            model, (x,), dynamo=True, input_names=["images"], output_names=_output_names(model),
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},), verbose=False,
        )  # fmt: skip
    program.model.metadata_props.update(metadata(model))
    with _written(path) as tmp:
        program.save(str(tmp))
    return Path(path)


def export_program(
    model: torch.nn.Module, path: str | os.PathLike[str], *, input_size: tuple[int, int] | None = None
) -> Path:
    """Write `model` as a `torch.export` program (`.pt2`, `torch.export.save`) with a dynamic batch dimension."""
    import torch

    x = example_input(model, input_size)
    with _eval(model), _one_line(f"torch.export of {_name(model)}"):
        program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},))
    with _written(path) as tmp:
        torch.export.save(program, str(tmp), extra_files={"resreg.json": json.dumps(metadata(model))})
    return Path(path)


def export(
    model: torch.nn.Module, path: str | os.PathLike[str], format: str, *, input_size: tuple[int, int] | None = None
) -> Path:
    """`export_onnx` or `export_program`, by `format` (`onnx` or `pt2`)."""
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    write = export_onnx if format == "onnx" else export_program
    return write(model, path, input_size=input_size)


def metadata(model: torch.nn.Module) -> dict[str, str]:
    """What an exported file records about the model: preprocessing, class names, spec (JSON strings)."""
    props = {"resreg_version": __version__}
    record = Preprocessing.of_model(model)
    if record is not None:
        props["resreg_pretrained_cfg"] = json.dumps(record.to_json())
        if record.label_names is not None:
            props["label_names"] = json.dumps(record.label_names)
        if record.mean_image is not None:
            props["resreg_mean_image"] = json.dumps(record.mean_image.tolist())
    spec = getattr(model, "resreg_spec", None)
    if spec is not None:
        props["resreg_spec"] = json.dumps(spec, sort_keys=True)
    return props


def _output_names(model: torch.nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    if getattr(model, "out_indices", None) is not None and info is not None:
        return [f"features{i}" for i in range(len(info))]
    return ["logits"]


def _name(model: torch.nn.Module) -> str:
    spec = getattr(model, "resreg_spec", None) or {}
    return str(spec.get("type", type(model).__name__))


@contextlib.contextmanager
def _written(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A path with the final file name in a temporary folder beside it, moved into place when the block succeeds.

    (Not resreg.io.atomic_path: the exporters check the suffix, and ONNX names external data after the file.)
    """
    import tempfile

    target = Path(path)
    with refusals_named(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as folder:
            tmp = Path(folder) / target.name
            yield tmp
            os.replace(tmp, target)


@contextlib.contextmanager
def _eval(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _one_line(what: str) -> Iterator[None]:
    """A model that cannot be traced is the user's problem to see, in one line (not a 200-line trace)."""
    try:
        yield
    except ResregError:
        raise
    except Exception as exc:  # torch.export / onnx raise many types; all mean "this model did not export"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ResregError(f"{what} failed: {type(exc).__name__}: {first[:300]}") from exc
