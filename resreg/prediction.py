"""Classify your own images: `predict(model, images, top_k=5)`.

    model = resreg.load_model("hf-hub:me/resnet20-fmnist")
    for p in resreg.predict(model, ["shoe.png", "photos/"], top_k=3):
        print(p.image, p.labels[0], p.probabilities[0])

Images are files (JPEG, PNG, ... anything PIL reads; folders are searched for image files), PIL
images, or already prepared [C, H, W] tensors. Files and PIL images are read as resreg reads every
image (`resreg.data.image_file`: 16-bit scaled to 8, EXIF orientation applied, at most 64 megapixels),
then prepared with the model's eval transform (`resreg.transforms.create_eval_transform`), and the
model runs on batches of them. An image that cannot be read (not an image, truncated, a decompression
bomb) is a warning naming it (`ImageWarning`) and is left out; the others still run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.data.folder import IMAGE_EXTENSIONS
from resreg.data.image_file import BadImageError, open_image, to_8bit
from resreg.errors import ConfigError
from resreg.transforms import create_eval_transform

if TYPE_CHECKING:
    import torch

#: show a progress bar from this many images on
PROGRESS_FROM = 64


class ImageWarning(UserWarning):
    """An image could not be read or prepared; it is left out of the predictions."""


@dataclass
class Prediction:
    """The top classes of one image, most probable first."""

    image: str  # the file, or `<image i>` for an image passed as an object
    indices: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the model's label_names, or the index as text
    probabilities: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        top = zip(self.indices, self.labels, self.probabilities, strict=True)
        return {"image": self.image, "top": [{"index": i, "label": n, "probability": p} for i, n, p in top]}


def predict(
    model: torch.nn.Module,
    images: Any,
    *,
    top_k: int = 5,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> list[Prediction]:
    """The `top_k` classes of each image, with softmax probabilities.

    Args:
        model: a classifier that carries its preprocessing (`load_model`, `create_model("hf-hub:...")`,
            a model `resreg train` saved); others get their builder's defaults.
        images: a path (file or folder), a PIL image, a [C, H, W] tensor already prepared, or a list of
            these; a [N, C, H, W] tensor is N prepared images.
        top_k: how many classes per image (at most the model's class count).
        batch_size: images per forward pass.
        device: where to run (default: where the model's parameters are).
        progress: a progress bar on stderr (default: from PROGRESS_FROM images on).
    """
    import torch
    from tqdm.auto import tqdm

    if getattr(model, "out_indices", None) is not None or getattr(model, "features_only", False):
        raise ConfigError("a features-only model gives feature maps, not classes: build it without features_only")
    if top_k < 1:
        raise ConfigError(f"top_k={top_k} must be at least 1")
    items = list(_expand(images))
    transform = create_eval_transform(model)
    device = torch.device(device) if device is not None else _device_of(model)
    labels = getattr(model, "label_names", None)
    was_training = model.training
    model.eval()
    results: list[Prediction] = []
    show = progress if progress is not None else len(items) >= PROGRESS_FROM
    bar = tqdm(total=len(items), unit="img", disable=not show, leave=False)
    try:
        for batch in _batches(_prepared(items, transform), batch_size):
            names, tensors = zip(*batch, strict=True)
            with torch.inference_mode():
                logits = model(torch.stack(tensors).to(device))
            probs = logits.float().softmax(dim=1)
            top = probs.topk(min(top_k, probs.shape[1]), dim=1)
            for name, values, indices in zip(names, top.values.tolist(), top.indices.tolist(), strict=True):
                names_ = [labels[i] if labels and i < len(labels) else str(i) for i in indices]
                results.append(Prediction(name, indices, names_, values))
            bar.update(len(batch))
    finally:
        bar.close()
        model.train(was_training)
    return results


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder` (recursively, sorted, by extension)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _expand(images: Any) -> Iterator[tuple[str, Any]]:
    """(name, item) for every image: folders become their files; a missing path is a warning."""
    if _is_tensor(images):
        images = list(images) if images.dim() == 4 else [images]  # a batch [N, C, H, W] is N images
    elif isinstance(images, (str, os.PathLike)) or not isinstance(images, Iterable):
        images = [images]
    for i, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if path.is_dir():
                files = image_files(path)
                if not files:
                    _warn(f"{path}: no image files in this folder ({', '.join(IMAGE_EXTENSIONS)})")
                yield from ((str(f), f) for f in files)
            elif not path.exists():
                _warn(f"{path}: no such file or folder")
            else:
                yield str(path), path
        else:
            yield f"<image {i}>", item


def _prepared(items: list[tuple[str, Any]], transform: Any) -> Iterator[tuple[str, torch.Tensor]]:
    for name, item in items:
        if _is_tensor(item):
            yield name, item
            continue
        try:  # the model's transform converts grey and RGB to its channel count; image_file does the rest
            image = open_image(item, mode=None) if isinstance(item, Path) else to_8bit(item, mode=None, name=name)
        except BadImageError as exc:
            _warn(str(exc))
            continue
        yield name, transform(image)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _device_of(model: torch.nn.Module) -> torch.device:
    import torch

    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _is_tensor(item: Any) -> bool:
    import torch

    return isinstance(item, torch.Tensor)


def _warn(message: str) -> None:
    warnings.warn(message, ImageWarning, stacklevel=3)
