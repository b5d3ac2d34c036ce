"""What a malicious pickle holds: an object whose unpickling runs code, seen afterwards as a directory.

A reader that unpickles it (torch.load with weights_only=False, pickle.load) calls os.mkdir(marker), so a
test asserts both the refusal and that `marker` does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path


class RunsCodeWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.mkdir, (str(self.marker),)
