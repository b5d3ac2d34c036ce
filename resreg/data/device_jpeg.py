"""JPEG decoding on the training device: the workers read the files, the batch decodes together.

One CPU core decodes about 400-650 ImageNet JPEGs a second with PIL; nvJPEG on a GPU decodes a batch at
thousands a second (`torchvision.io.decode_jpeg(list, device="cuda")`). So with `data.decode: cuda` the
worker processes only read each file and check that the device can decode it; the main process decodes
the batch's JPEGs in one call and resizes and crops each on the device, with the crop the CPU path would
take (`resized_size`, `crop_origin`: the same draws give the same crops).

What the device cannot decode as PIL would is decoded by PIL in the worker, exactly as with
`data.decode: cpu` (`load_crop`): PNG and other formats, CMYK and YCCK JPEGs, lossless or arithmetic-coded
ones, JPEGs turned by an EXIF orientation, truncated files (so they fail with the CPU path's message).
A JPEG the device decoder refuses all the same is read by PIL in the main process (rare), with the same
result as the CPU path: its image, or its one-line error.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from resreg.data.folder import crop_origin, load_crop, resized_size
from resreg.data.image_file import MAX_IMAGE_PIXELS, BadImageError

_START, _END = b"\xff\xd8", b"\xff\xd9"
#: start-of-frame markers that nvJPEG and libjpeg-turbo both decode: baseline, extended, progressive (Huffman)
_DECODABLE_FRAMES = {0xC0, 0xC1, 0xC2}
#: every start-of-frame marker: 0xC0-0xCF except DHT (C4), JPG (C8) and DAC (CC)
_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_ORIENTATION = 0x0112  # the EXIF tag


def read_for_device(
    path: str, short_side: int, crop: int, where: tuple[float, float] | None
) -> tuple[torch.Tensor, bool]:
    """(the file's bytes as uint8 [n], True) when the device can decode it, else (PIL's crop, False).

    Raises `resreg.data.image_file.BadImageError` for an unreadable file, as `load_crop` does.
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        data = b""  # load_crop reports it as the CPU path does
    if _device_decodable(data):
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), True
    return load_crop(path, short_side, crop, where), False


def decode_crops(
    encoded: Sequence[torch.Tensor],
    tasks: Sequence[tuple[str, int, tuple[float, float] | None]],
    crop: int,
    device: torch.device,
) -> list[torch.Tensor | str]:
    """Decode JPEG files (bytes) together on `device`, and resize and crop each as its task says.

    tasks: (file name, shorter side, crop position or None for the centre) per file. Returns per file
    its uint8 [3, crop, crop] image on `device`, or the one line of `BadImageError` naming the file.
    """
    try:
        decoded: list[torch.Tensor | None] = list(_decode_jpeg(list(encoded), device))
    except RuntimeError:  # one bad file fails the batch call: find it by decoding one by one
        decoded = [_decode_one(data, device) for data in encoded]
    return [
        _with_pil(name, short_side, crop, where, device)
        if image is None
        else resize_crop(image, short_side, crop, where)
        for image, (name, short_side, where) in zip(decoded, tasks, strict=True)
    ]


def _with_pil(
    name: str, short_side: int, crop: int, where: tuple[float, float] | None, device: torch.device
) -> torch.Tensor | str:
    """What the device refused, as the CPU path reads it: PIL's crop, or its one-line error (rare: in this process)."""
    try:
        return load_crop(name, short_side, crop, where).to(device)
    except BadImageError as exc:
        return str(exc)


def jpeg_decoding_fails(device: torch.device) -> str | None:
    """Why torchvision cannot decode a JPEG on `device` (a build without nvJPEG, ...), or None when it can."""
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiny, "JPEG")
    try:
        _decode_jpeg(torch.frombuffer(bytearray(tiny.getvalue()), dtype=torch.uint8), device)
    except RuntimeError as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def resize_crop(image: torch.Tensor, short_side: int, crop: int, where: tuple[float, float] | None) -> torch.Tensor:
    """uint8 [3, H, W] -> its shorter side resized to `short_side` (bilinear, antialiased as PIL's) ->
    the `crop` square at `where` (None: the centre), uint8 [3, crop, crop]. The crop of `load_crop`."""
    width, height = image.shape[2], image.shape[1]
    size = resized_size(width, height, short_side, crop)
    top, left = crop_origin(size, crop, where)
    resized = F.interpolate(image[None].float(), size=(size[1], size[0]), mode="bilinear", antialias=True)
    return resized[0, :, top : top + crop, left : left + crop].round_().clamp_(0, 255).to(torch.uint8)


def _decode_one(data: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    try:
        return _decode_jpeg(data, device)
    except RuntimeError:
        return None


def _decode_jpeg(data: torch.Tensor | list[torch.Tensor], device: torch.device) -> torch.Tensor | list[torch.Tensor]:
    """torchvision's decoder (nvJPEG on CUDA; a list decodes as one batch), as RGB."""
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its image decoders for TorchCodec's; they work, and TorchCodec is not a
        # dependency: move to torchcodec.decoders when it is.
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


def _device_decodable(data: bytes) -> bool:
    """A whole baseline or progressive JPEG, RGB or grey, upright, within resreg's size limit."""
    whole = data.endswith(_END) or data.rstrip(b"\0").endswith(_END)  # zero padding after the end is common
    if not data.startswith(_START) or not whole or _frame(data) not in _DECODABLE_FRAMES:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            upright = image.getexif().get(_ORIENTATION, 1) == 1
            return image.mode in ("RGB", "L") and image.width * image.height <= MAX_IMAGE_PIXELS and upright
    except Exception:  # untrusted bytes: whatever PIL raises, PIL's path (load_crop) reports it
        return False


def _frame(data: bytes) -> int | None:
    """The start-of-frame marker of a JPEG (how it is coded), found by walking its segments."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in _FRAMES:
            return marker
        if marker == 0xDA:  # start of scan before any frame: not a JPEG we know
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None
