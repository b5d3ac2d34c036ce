"""Fixtures shared by the test files: the `resreg` command in-process and in a subprocess, and plugin installs.

- `cli`: `cli("list", "blocks")` runs the real entry point `resreg.cli.main.main` in this process and
  returns its exit status, stdout and stderr (argparse's own exits included). Use it wherever the test
  is about what the command does, not about the process (imports, signals, a fresh environment): it
  saves the 2-5 s a subprocess pays to import torch.
- `resreg_process`: `resreg ARGS` in a fresh interpreter, optionally with a plugin site on its path.
- `install_plugins`: pip-installs plugin projects (real distributions with entry points) into a
  folder, once per session and worker, and returns the folder to put on PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

#: A guard against hangs only: generous, so that a slow or busy machine never fails a test.
PROCESS_TIMEOUT_S = 1800


def _share_the_cores_among_xdist_workers() -> None:
    """Under `pytest -n N`, each worker's torch (and the processes it starts) gets its share of the cores:
    N workers each running as many threads as there are cores would oversubscribe the CPU. Set before
    any test imports torch; an OMP_NUM_THREADS the user set wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // workers)))


_share_the_cores_among_xdist_workers()


@dataclass(frozen=True)
class CliResult:
    """What a `resreg` command left: its exit status and everything it printed."""

    status: int
    out: str
    err: str


def _set_environ(values: Mapping[str, str | None]) -> None:
    """Set each variable; None removes it."""
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextlib.contextmanager
def _environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in changes}
    try:
        _set_environ(changes)
        yield
    finally:
        _set_environ(saved)


def run_in_process(*args: str, env: Mapping[str, str | None] | None = None) -> CliResult:
    """`resreg ARGS` through `main(argv)`, as the installed command runs it, with its output captured.

    RESREG_DEBUG is unset (one-line errors, as a user sees them) unless `env` sets it; `main`'s one-line
    warning printer is put back afterwards so it does not leak into other tests.
    """
    from resreg.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    showwarning = warnings.showwarning
    try:
        with (
            _environment({"RESREG_DEBUG": None, **(env or {})}),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                status = main(list(args))
            except SystemExit as exit_:  # argparse's --help, --version and usage errors
                status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        warnings.showwarning = showwarning
    return CliResult(status, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """The `resreg` command in this process: `cli("show", "quickstart").status == 0`."""
    return run_in_process


def run_process(
    *args: str, site: Path | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m resreg ARGS` in a fresh interpreter; `site` (a folder of installed plugins) goes on its path."""
    environment = {**os.environ, "RESREG_DEBUG": "", **(env or {})}
    environment.pop("PYTHONPATH", None)
    if site is not None:
        environment["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, "-m", "resreg", *args], capture_output=True, text=True, env=environment, cwd=cwd,
        timeout=PROCESS_TIMEOUT_S,
    )  # fmt: skip


@pytest.fixture
def resreg_process() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`resreg ARGS` in a subprocess: for what is about the process (imports, exit codes of a fresh start, signals)."""
    return run_process


@pytest.fixture(scope="session")
def install_plugins(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`install_plugins(project, ...)` pip-installs plugin projects (folders with a pyproject.toml) into a
    folder and returns it; the same projects are installed once per session (and per xdist worker).

    Real installs (no network, no build isolation): the plugins are found through their entry points
    only, exactly as in a user's environment once that folder is on PYTHONPATH.
    """
    sites: dict[tuple[Path, ...], Path] = {}

    def install(*projects: Path) -> Path:
        key = tuple(Path(p).resolve() for p in projects)
        if key not in sites:
            name = hashlib.sha1("\n".join(map(str, key)).encode()).hexdigest()[:10]
            site = tmp_path_factory.mktemp(f"site-{name}")
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                 "--target", str(site), *map(str, key)],
                check=True, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
            )  # fmt: skip
            sites[key] = site
        return sites[key]

    return install


@pytest.fixture
def stopped_run(tmp_path: Path) -> Path:
    """runs/quickstart (under tmp_path) as Ctrl-C leaves a run: config.yaml and checkpoints/last.pt (step 7), no
    model.safetensors yet."""
    import torch
    import yaml

    from resreg.config import load_config
    from resreg.engine import checkpoint

    run = tmp_path / "runs" / "quickstart"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(load_config("quickstart")))
    checkpoint.save(run / "checkpoints" / "last.pt", {"step": 7, "model": {"fc.weight": torch.zeros(10, 64)}})
    return run
