"""The next batch made while this one trains: a batch iterator run one batch ahead in a background thread.

With `data.decode: cuda` a folder batch is decoded, resized, cropped and normalised by kernels on the GPU.
Made in the training loop, between two steps, the step waits for them. Every fast loader (NVIDIA's apex
`data_prefetcher`, DALI, FFCV) prepares batch k+1 on a side CUDA stream while batch k trains; `Prefetcher`
does that for any iterator of tensor tuples. A thread rather than apex's same-thread prefetch: the host
work of a batch (taking it from the worker processes, nvJPEG's host side, launching the kernels) then
overlaps the step too.

On CUDA the thread works under its own stream and records an event after each batch; the consumer's
stream waits for that event (not for the side stream, which may already hold the next batch's work) and
each tensor handed out is marked as used there (`record_stream`), so the caching allocator does not give
its memory to the side stream while the step still reads it. Elsewhere only the thread runs.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import weakref
from collections.abc import Generator, Iterator
from typing import NamedTuple

import torch

Batch = tuple[torch.Tensor, ...]


class _Failed(NamedTuple):
    """The exception the batch iterator raised, for the consumer to raise at that batch."""

    error: BaseException


_END = object()  # the batch iterator is exhausted


class Prefetcher(Iterator[Batch]):
    """`batches`, each made one batch ahead of the one taken, in a daemon thread.

    The same batches in the same order; an exception of `batches` is raised unchanged by the `next()` that
    would have returned its batch. `close()` (also at the end and after an exception) stops the thread and
    closes `batches` in it; after it, the iteration is over.
    """

    def __init__(self, batches: Generator[Batch, None, None], device: torch.device) -> None:
        self._closed = True  # until the thread runs: nothing for `close` (and `__del__`) to stop
        self._device = device
        self._stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        if self._stream is not None:  # what the consumer queued before (e.g. copies of constants) comes first
            self._stream.wait_stream(torch.cuda.current_stream(device))
        self._made: queue.SimpleQueue = queue.SimpleQueue()  # (batch, CUDA event or None), _Failed, or _END
        # One batch ahead: the thread starts a batch only once the one before it has been taken.
        self._wanted = threading.Semaphore(1)
        self._stop = threading.Event()
        # The thread gets what it uses, not `self`: a Prefetcher its caller dropped is not kept alive (`__del__`).
        work = (batches, self._stream, self._made, self._wanted, self._stop)
        self._thread = threading.Thread(target=_make_ahead, args=work, name="resreg-prefetch", daemon=True)
        self._thread.start()
        self._closed = False
        _RUNNING.add(self)

    def __next__(self) -> Batch:
        if self._closed:
            raise StopIteration
        made = self._made.get()
        if made is _END or isinstance(made, _Failed):
            self.close()
            if made is _END:
                raise StopIteration
            raise made.error
        batch, ready = made
        self._wanted.release()  # the thread makes the next batch while the caller uses this one
        if ready is not None:
            consumer = torch.cuda.current_stream(self._device)
            consumer.wait_event(ready)
            for tensor in batch:
                tensor.record_stream(consumer)
        return batch

    def close(self) -> None:
        """Stop the thread (after the batch it is making, if any) and close the batch iterator."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wanted.release()  # a thread waiting to start a batch wakes, sees the stop and ends
        self._thread.join()
        _RUNNING.discard(self)

    __del__ = close


#: the Prefetchers not closed yet: the interpreter closes them at exit (`_close_running`)
_RUNNING: weakref.WeakSet[Prefetcher] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    """Stop the threads a caller left running, before the interpreter stops them wherever they are: one
    stopped inside torch's C++ code aborts the process ("terminate called without an active exception")."""
    for prefetcher in list(_RUNNING):
        prefetcher.close()


def _make_ahead(
    batches: Generator[Batch, None, None],
    stream: torch.cuda.Stream | None,
    made: queue.SimpleQueue,
    wanted: threading.Semaphore,
    stop: threading.Event,
) -> None:
    """The thread: the batches into `made`, each once the one before it is taken, until the end or `stop`."""
    try:
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            while True:
                wanted.acquire()
                if stop.is_set():
                    return
                try:
                    batch = next(batches)
                except StopIteration:
                    made.put(_END)
                    return
                except BaseException as exc:  # whatever it is, the consumer sees it at this batch
                    made.put(_Failed(exc))
                    return
                made.put((batch, stream.record_event() if stream is not None else None))
    finally:
        batches.close()
