"""`--input-size`, spelled one way for every command that takes it: `--input-size H W`.

One number is a square (`--input-size 64`). The channel count is the model's own; a leading one is
accepted when it matches (`--input-size 3 224 224`, timm's form), and commas work as separators too
(`3,224,224`), so what works for one command works for every other.
"""

from __future__ import annotations

import argparse
import re

from resreg.errors import ConfigError

HELP = "height and width of the input (one number: square); default: the model's own"


def add_input_size_argument(parser: argparse.ArgumentParser) -> None:
    # ("H", "W") with nargs="+" shows as `H [W ...]`: one number or two, not the `H W [H W ...]` of pairs
    parser.add_argument("--input-size", nargs="+", metavar=("H", "W"), help=HELP)


def parse_input_size(values: list[str] | None, in_chans: int) -> tuple[int, int] | None:
    """(height, width) from `--input-size` (None when not given); a channel count must be `in_chans`."""
    if values is None:
        return None
    text = " ".join(values)
    try:
        numbers = [int(v) for v in re.split(r"[,\s]+", text.strip())]
    except ValueError:
        numbers = []
    if not 1 <= len(numbers) <= 3 or min(numbers) < 1:
        raise ConfigError(f"--input-size: expected H W (or one number for a square), positive integers; got {text!r}")
    if len(numbers) == 3:
        channels, *numbers = numbers
        if channels != in_chans:
            raise ConfigError(
                f"--input-size {text}: the model takes {in_chans} channel(s), not {channels} "
                f"(a spec's in_chans sets them); give H W"
            )
    return numbers[0], numbers[-1]
