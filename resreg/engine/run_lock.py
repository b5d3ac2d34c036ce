"""One writer per run directory: RUN_DIR/run.lock, held by rank 0 for the whole run.

The lock is an advisory `flock` on the file, which the kernel releases when its holder exits in any
way, kill -9 and a crash of the node's process included: a lock never outlives its holder, so there
is no stale lock to guess about (a pid test would be fooled by a reused pid, and cannot see other
hosts). The file's text names the holder (host and pid) for the error a second writer gets; text
left by a holder that died is noted when the next run takes the lock over. Over NFS, Linux maps
`flock` onto NFS byte-range locks, so writers on different hosts exclude each other too.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from resreg.engine import report
from resreg.errors import ResregError
from resreg.layout import RUN_LOCK_FILE


class RunDirLocked(ResregError):
    """Another process writes this run directory."""


class RunLock:
    """Between `acquire()` and `release()`, this process is the only writer of `run_dir`.

    Taking it never waits: a directory another process holds is a RunDirLocked error naming it."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / RUN_LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock (RunDirLocked when another process holds it); returns self."""
        while self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:  # read-only, not a directory, no permission
                raise ResregError(f"{self.path.parent}: cannot write the run there ({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read(fd) or "another process"
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    raise RunDirLocked(
                        f"{self.path.parent} is in use by {holder} (see {self.path}): one run writes a run directory "
                        "at a time; wait for it, stop it, or give another --run-dir"
                    ) from None
                # A file system without locks (some Lustre mounts): run, but say what is not guarded.
                report.say(f"resreg train: warning: cannot lock {self.path} ({exc.strerror}): "
                           "make sure no other run writes this directory")  # fmt: skip
                return self
            if _same_file(fd, self.path):
                self._fd = fd
            else:  # the previous holder removed the file between our open and our lock: lock the new one
                os.close(fd)
        previous = _read(self._fd)
        if previous:
            report.say(f"resreg train: note: {previous} stopped without releasing {self.path}; taking it over")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return self

    def release(self) -> None:
        """Give the lock up and remove the file (nothing happens when it is not held)."""
        if self._fd is None:
            return
        # Removed while still held, so no other process can lock this file and then lose it to the unlink.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def is_held(run_dir: Path) -> bool:
    """Whether a process holds `run_dir`'s lock now: probed with a shared lock, never kept. A run.lock file
    left by a killed run is not held (the kernel drops a `flock` with its holder)."""
    try:
        fd = os.open(run_dir / RUN_LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EACCES)
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got one
    return False


def _read(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
