"""Writing files so that a crash, a kill -9, Ctrl-C or a full disk never leaves half a file where a good one was.

A write that the file system refuses (full, over quota, read-only, not permitted) ends in one line
naming the file and the reason, and the file that was there before is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from resreg.errors import ResregError

#: What the file system says when it will not take a write, in the user's words. EFBIG is the file-size
#: limit (`ulimit -f`, RLIMIT_FSIZE): Python ignores SIGXFSZ, so the write fails instead of killing us.
REFUSALS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit reached (ulimit -f)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
}

#: The temporary files atomic_path writes are named `.<target name>.<random>.tmp`.
TEMPORARY_SUFFIX = ".tmp"

# Rust's io::Error (safetensors) reports the errno only in its text: "File too large (os error 27)".
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def refused_write(exc: BaseException) -> OSError | None:
    """The file system's refusal behind `exc`, if that is what it is.

    Writers wrap it: torch.save raises a RuntimeError whose context is the OSError of the Python file
    it wrote to, and safetensors raises its own error with the errno in the text.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in REFUSALS:
            return seen
        match = _RUST_OS_ERROR.search(str(seen))
        if match and int(match.group(1)) in REFUSALS:
            code = int(match.group(1))
            return OSError(code, os.strerror(code))
        seen = seen.__cause__ or seen.__context__
    return None


def refusal_reason(err: OSError) -> str:
    """`disk full (ENOSPC)`: what a refused write means, and the errno name to search for."""
    reason = REFUSALS.get(err.errno or 0, err.strerror or str(err))
    return f"{reason} ({errno.errorcode.get(err.errno or 0, 'errno ?')})"


@contextlib.contextmanager
def refusals_named(target: Path) -> Iterator[None]:
    """Within the block, a write the file system refuses becomes a one-line `ResregError` naming `target`
    (the file being written, not the temporary name it is written under) and what became of it."""
    try:
        yield
    except Exception as exc:
        refusal = refused_write(exc)
        if refusal is None:
            raise
        kept = f"the previous {target.name} is unchanged" if target.is_file() else "nothing was written"
        raise ResregError(f"cannot write {target}: {refusal_reason(refusal)}; {kept}") from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without error, it replaces `path`.

    The temporary file is flushed to disk before the rename (os.replace is atomic on POSIX and
    Windows within one file system), and removed if the block raises. A write the file system
    refuses becomes a `ResregError` naming `path`; the previous file at `path` is untouched.

        with atomic_path(run_dir / "last.pt") as tmp:
            torch.save(state, tmp)
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        with refusals_named(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX, dir=target.parent)
            os.close(fd)
            tmp = Path(tmp_name)
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp makes the file private (0600); give it the mode a plain open() would have.
            os.chmod(tmp, 0o666 & ~_current_umask())
            os.replace(tmp, target)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically (configs, model cards, metrics snapshots)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_leftover_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of atomic writes that a kill -9 interrupted, in `folder` and below;
    return them. Call it only while no process writes there (a run directory: under its lock)."""
    leftovers = [path for path in Path(folder).rglob(f".*{TEMPORARY_SUFFIX}") if path.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The rows of a file that rows are appended to (a run's metrics.jsonl); none when it is absent.

    A line a crash cut short cannot be parsed and is skipped: what was written before it is kept.
    """
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def check_writable_dir(path: Path, what: str) -> None:
    """Create the directory `path` if missing and prove a file can be written in it.

    For work that would otherwise find out only when it first saves (a run, after loading its data):
    `what` names the option the path came from (`--run-dir`).
    """
    if path.exists() and not path.is_dir():
        raise ResregError(f"{what} {path}: is a file, not a directory; give a directory (created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = refusal_reason(exc) if exc.errno in REFUSALS else f"{exc.strerror or exc}"
        raise ResregError(f"{what} {path}: cannot write there: {reason}; give a directory you can write to") from exc
