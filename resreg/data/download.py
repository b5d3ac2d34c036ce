"""Where data sets are looked for, and fetching them (checksummed, with a progress bar) when absent.

Search order for a data set `name`: the `root` the config gives (and root/<name>) and nothing else:
a data.root that does not exist is an error, never a reason to use another copy found elsewhere.
Without a root: $RESREG_DATA (and $RESREG_DATA/<name>), the user cache directory
($XDG_CACHE_HOME or ~/.cache)/resreg/<name>, then /usr/share/datasets/<name with dashes> (where
Debian's dataset-fashion-mnist installs).

Part of the data-set contract (`resreg.data`), so every data set plugin looks in the same places and
says the same thing when its files are absent. `fetch` is not torchvision.datasets.utils.download_url:
that writes straight to the final path and leaves a partial or corrupt file there (which the next run
would find), retries an https URL over plain http, and has no timeout.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from resreg.errors import DataError
from resreg.io import atomic_path


def cache_dir(name: str) -> Path:
    """The per-user download directory of a data set."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "resreg" / name


#: how to go on without the data, at the end of every missing-data error.
SYNTHETIC_HINT = "or try the pipeline without data: resreg train CONFIG data.type=synthetic"


def search_dirs(name: str, root: str | None) -> list[Path]:
    """Every directory where data set `name` may be, in the order they are tried: under `root` alone
    when it is given (it must exist), else the usual places."""
    dashed = name.replace("_", "-")
    if root:
        base = Path(root).expanduser()
        if not base.is_dir():
            raise root_missing_error(name, base, instead="or unset it to search $RESREG_DATA and the usual places")
        return list(dict.fromkeys([base, base / name, base / dashed]))
    dirs: list[Path] = []
    if os.environ.get("RESREG_DATA"):
        base = Path(os.environ["RESREG_DATA"]).expanduser()
        dirs += [base, base / name, base / dashed]
    dirs += [cache_dir(name), Path("/usr/share/datasets") / dashed]
    return list(dict.fromkeys(dirs))  # without repeats, in order


def root_missing_error(name: str, root: Path, *, instead: str, holds: str = "the data set's files") -> DataError:
    """The error for a data.root that does not exist (a typo must not silently pick another copy)."""
    return DataError(
        f"{name}: data.root {root} does not exist; point data.root at the folder that holds {holds}, "
        f"{instead}; {SYNTHETIC_HINT}"
    )


def find_files(dirs: Sequence[Path], names: Sequence[str], *, gz: bool = True) -> dict[str, Path] | None:
    """The paths of every file of `names` in the first directory that holds them all (with `gz`, each
    file may also be there gzip-compressed), or None."""
    for directory in dirs:
        found = {n: _variant(directory, n, gz) for n in names}
        if all(found.values()):
            return found  # type: ignore[return-value]  # no None left
    return None


def fetch(files: Sequence[tuple[str, str]], mirrors: Sequence[str], target: Path) -> None:
    """Download each (filename, md5) from the first mirror that serves it intact, into `target`."""
    for filename, md5 in files:
        errors = []
        for mirror in mirrors:
            try:
                download(mirror + filename, target / filename, md5)
                break
            except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors; a bad checksum is a ValueError
                errors.append(f"{mirror}{filename}: {exc}")
        else:
            raise DataError("download failed: " + "; ".join(errors))


def download(url: str, path: Path, md5: str) -> None:
    """Stream `url` to `path` with a progress bar; the file appears only once its md5 is right."""
    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=60) as response, atomic_path(path) as tmp, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=None) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        out.flush()
        if digest.hexdigest() != md5:
            raise ValueError(f"checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")


def missing_error(what: str, dirs: Sequence[Path], names: Sequence[str], hint: str) -> DataError:
    """The error for a data set found nowhere: every place looked in and where to put the files."""
    places = ", ".join(str(d) for d in dirs)
    return DataError(
        f"{what} not found: looked for {', '.join(names)} in {places}; put the files in one of these "
        f"(or set data.root or $RESREG_DATA), {hint}, {SYNTHETIC_HINT}"
    )


def _variant(directory: Path, name: str, gz: bool) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz") if gz else (directory / name,):
        if candidate.is_file():
            return candidate
    return None
