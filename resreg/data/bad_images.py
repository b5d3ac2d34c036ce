"""Unreadable images in training: each skipped with one warning naming it, and counted.

A few bad files in a large folder (ImageNet has some) should not cost a run; a folder where many are
bad is broken, and training on what is left would be a silently different experiment. So a run stops,
in one line, once more than `max_bad_fraction` of a split's images could not be read.
"""

from __future__ import annotations

import warnings

from resreg.errors import DataError


class BadImageWarning(UserWarning):
    """An image of an image folder could not be read; it is left out of its batch."""


class BadImages:
    """The images of one split found unreadable so far (each file counted once, over all epochs)."""

    def __init__(self, split_size: int, max_fraction: float, world_size: int = 1) -> None:
        # Each of DDP's processes reads its share of the split and counts what it finds there.
        self.share, self.max_fraction = max(1, split_size // world_size), max_fraction
        self.whose = "" if world_size == 1 else f" read by this process (of {world_size})"
        self.found: set[str] = set()

    def skip(self, messages: list[str]) -> None:
        """Warn about newly found bad images (messages start with the file); stop once too many are bad."""
        for message in messages:
            if message in self.found:
                continue
            self.found.add(message)
            if len(self.found) > self.max_fraction * self.share:
                raise DataError(
                    f"{len(self.found)} of the {self.share:,} images{self.whose} are unreadable, more than "
                    f"data.max_bad_fraction={self.max_fraction:g} of them; the last: {message}"
                )
            warnings.warn(
                f"skipped an unreadable image ({len(self.found)} so far): {message}", BadImageWarning, stacklevel=4
            )
