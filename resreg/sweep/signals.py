"""Signal handlers installed for the length of a `with` block, then the previous ones put back."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


@contextmanager
def handling(signals: Iterable[signal.Signals], handler: Callable[[int], None]) -> Iterator[None]:
    """Call `handler(signum)` on each of `signals` inside the block (main thread only, as Python requires)."""
    previous = {s: signal.signal(s, lambda signum, _frame: handler(signum)) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
