"""The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), gzip-compressed or not.

Not torchvision's reader (torchvision.datasets.mnist.read_sn3_pascalvincent_tensor): it opens the path
as a plain file, so it cannot read the `.gz` files that Debian's dataset-fashion-mnist installs and the
mirrors serve (torchvision.datasets.MNIST wants them unpacked under root/<Class>/raw/), and it checks the
header with `assert` (gone under `python -O`) and a wrong size only as a failed `view`, where a truncated
or foreign file must be a one-line DataError naming it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from resreg.errors import DataError

# The third byte of the magic number is the element type; the fourth the number of dimensions.
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (`.gz` or raw) into a tensor of its shape and type."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = offset + dtype.itemsize * int(np.prod(shape))
    if len(data) != expected:
        raise DataError(f"{path}: IDX header says {shape} ({expected} bytes) but the file has {len(data)} bytes")
    array = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))
