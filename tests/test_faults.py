"""Faults of the machine and of files, met as an operator meets them: through the real `resreg` command.

A full disk (a real small file system where this machine lets us mount one, and a real file-size limit,
RLIMIT_FSIZE, everywhere), a read-only or non-directory run directory, `engine.device=cuda` without a
GPU, and checkpoints that are corrupt or lack a part. Each ends in one line on stderr, exit status 2,
and leaves what was there before as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import PROCESS_TIMEOUT_S, CliResult, run_in_process
from tiny_run import TINY as ENGINE_TINY

# The engine tests' tiny run (tests/tiny_run.py), shorter: every fault here starts fresh `resreg` processes.
TINY = {
    **ENGINE_TINY,
    "data": {**ENGINE_TINY["data"], "num_images": 128},
    "train": {**ENGINE_TINY["train"], "length": 4, "eval_every": 2},
    "engine": {**ENGINE_TINY["engine"], "log_every": 2, "checkpoint_every": 2},
}


def resreg(*args: str, cwd: Path, file_size_limit: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`resreg ARGS` in a fresh process, optionally under a file-size limit (writes past it fail with EFBIG)."""

    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "resreg", *args], capture_output=True, text=True, cwd=cwd, preexec_fn=limit,
        env={**os.environ, "RESREG_DEBUG": "", **env}, timeout=PROCESS_TIMEOUT_S,
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str] | CliResult, command: str = "train") -> str:
    status, err = (
        (result.returncode, result.stderr)
        if isinstance(result, subprocess.CompletedProcess)
        else (result.status, result.err)
    )
    assert status == 2, err
    assert err.startswith(f"resreg {command}: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(TINY))
    return path


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at `path` (needs root and a kernel that lets us mount); skips the test elsewhere."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def leftover_temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# --- a full disk ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_full_file_system_names_enospc_and_the_file(config, tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=48k") as small:
        result = resreg("train", str(config), "--run-dir", str(small / "run"), cwd=tmp_path)
        err = one_line_error(result)
        assert "disk full (ENOSPC)" in err and f"cannot write {small / 'run'}/" in err, err
        assert not leftover_temporary_files(small)


@pytest.mark.slow
def test_a_file_size_limit_names_efbig_and_the_file_and_leaves_no_partial_file(config, tmp_path):
    result = resreg("train", str(config), "--run-dir", "run", cwd=tmp_path, file_size_limit=16_000)
    err = one_line_error(result)
    assert "file size limit reached (ulimit -f) (EFBIG)" in err and "cannot write run/checkpoints/" in err, err
    assert not leftover_temporary_files(tmp_path / "run")


def test_a_checkpoint_write_that_runs_out_of_room_keeps_the_previous_checkpoint(tmp_path):
    from resreg.engine import checkpoint

    path = checkpoint.save(tmp_path / "last.pt", {"step": 1, "weights": torch.ones(100)})
    before = path.read_bytes()
    write_a_bigger_one = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        "from resreg.engine import checkpoint\n"
        "from resreg.errors import ResregError\n"
        "try:\n"
        "    checkpoint.save(Path(sys.argv[1]), {'step': 2, 'weights': torch.ones(100_000)})\n"
        "except ResregError as exc:\n"
        "    print(exc)\n"
    )
    limit = 4 * len(before)  # room for the old checkpoint, not for the new one
    probe = subprocess.run(
        [sys.executable, "-c", write_a_bigger_one, str(path)], capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )  # fmt: skip
    expected = f"cannot write {path}: file size limit reached (ulimit -f) (EFBIG); the previous last.pt is unchanged"
    assert probe.stdout.strip() == expected, probe.stderr
    assert path.read_bytes() == before and checkpoint.load(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


# --- the run directory ---------------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory no file can be created in: a read-only mount for root (whom permissions do not stop),
    mode 0555 for anyone else."""
    if os.geteuid() == 0:
        with mounted_tmpfs(tmp_path / "read-only", "ro,size=64k") as path:
            yield path
    else:
        path = tmp_path / "read-only"
        path.mkdir(mode=0o555)
        yield path
        path.chmod(0o755)


def test_a_read_only_run_directory_fails_before_the_data_is_loaded(config, read_only_dir, tmp_path):
    # A data set that is not there: had the data been loaded first, the error would be about it.
    missing_data = ["data.type=cifar10", f"data.root={tmp_path / 'no-data'}"]
    result = run_in_process("train", str(config), *missing_data, "--run-dir", str(read_only_dir / "run"))
    err = one_line_error(result)
    assert f"--run-dir {read_only_dir / 'run'}: cannot write there: " in err, err
    assert "read-only file system (EROFS)" in err or "permission denied (EACCES)" in err, err


def test_a_run_dir_that_is_a_file_is_refused_and_the_file_kept(config, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    err = one_line_error(run_in_process("train", str(config), "--run-dir", str(notes)))
    assert f"--run-dir {notes}: is a file, not a directory" in err
    assert notes.read_text() == "my notes\n"


# --- the device ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_cuda_without_a_visible_gpu_is_one_line_before_anything_is_written(config, tmp_path):
    # CUDA_VISIBLE_DEVICES="" hides every GPU, so this is the machine without one even where there is one.
    result = resreg(
        "train", str(config), "engine.device=cuda", "--run-dir", "run", cwd=tmp_path, CUDA_VISIBLE_DEVICES=""
    )
    err = one_line_error(result)
    assert "engine.device=cuda: " in err and "use engine.device=auto or cpu" in err, err
    assert "Found no NVIDIA driver" not in err  # CUDA's own words, from deep inside torch
    assert not (tmp_path / "run" / "config.yaml").exists()


# --- checkpoints ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    (root / "tiny.yaml").write_text(json.dumps(TINY))
    result = run_in_process("train", str(root / "tiny.yaml"), "--run-dir", str(root / "run"))
    assert result.status == 0, result.err
    return root / "run"


def resumable_copy(finished_run: Path, tmp_path: Path, edit) -> tuple[Path, bytes]:
    """A copy of the run whose last.pt, rewound to step 2 (so the run would continue), `edit` changed."""
    import shutil

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    last = run / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=True)
    state["step"] = 2
    torch.save(state, last)
    edit(last)
    return run, last.read_bytes()


def _drop_optimizer(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    del state["optimizer"]
    torch.save(state, path)


def _drop_a_weight(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    del state["model"]["fc.weight"]
    torch.save(state, path)


class _Payload:
    """Not plain data: unpickling it would run code of the file's choosing."""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_drop_optimizer, "the checkpoint has no 'optimizer' (it has 'step', 'model', "),
        (_drop_a_weight, "(model): weights do not fit the model: 1 missing (fc.weight)"),
        (lambda p: p.write_bytes(os.urandom(3000)), "not a readable resreg checkpoint ("),
        (lambda p: p.write_bytes(bytes(3000)), "not a readable resreg checkpoint (not in PyTorch's zip format)"),
        (lambda p: torch.save({"step": 2, "payload": _Payload()}, p), "not a readable resreg checkpoint (it holds "),
    ],
    ids=["missing-a-part", "missing-a-weight", "random-bytes", "zero-filled", "pickled-object"],
)
def test_a_bad_checkpoint_is_one_line_naming_it_never_advising_unsafe_loading(finished_run, tmp_path, edit, expected):
    run, before = resumable_copy(finished_run, tmp_path, edit)
    err = one_line_error(run_in_process("train", "--resume", str(run)))
    assert f"error: {run}/checkpoints/last.pt" in err and expected in err, err
    assert "weights_only" not in err, err  # torch's advice to load unsafely is never passed on
    assert (run / "checkpoints" / "last.pt").read_bytes() == before  # nothing the user had is changed


def test_writes_refused_elsewhere_are_one_line_naming_the_path(read_only_dir, tmp_path):
    """`resreg export` writes through the exporters' own files, `resreg plugin new` with plain writes: both
    name the path the user gave and the reason, in one line."""
    from resreg.models import create_model
    from resreg.weights import save_model

    unwritable = ("read-only file system (EROFS)", "permission denied (EACCES)")
    save_model(create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / "m.safetensors")
    target = read_only_dir / "m.pt2"
    export = ("export", str(tmp_path / "m.safetensors"), "--format", "pt2", "-o", str(target))
    err = one_line_error(run_in_process(*export), "export")
    assert f"cannot write {target}: " in err and any(reason in err for reason in unwritable), err
    err = one_line_error(run_in_process("plugin", "new", "mynet", "--dir", str(read_only_dir)), "plugin")
    assert f"error: {read_only_dir / 'resreg-mynet'}: " in err and any(reason in err for reason in unwritable), err
    assert not list(read_only_dir.iterdir())


def test_eval_of_a_checkpoint_whose_weights_do_not_fit_is_one_line(finished_run, tmp_path):
    run, before = resumable_copy(finished_run, tmp_path, _drop_a_weight)
    err = one_line_error(run_in_process("eval", str(run), "--checkpoint", "last"), "eval")
    assert f"{run}/checkpoints/last.pt (model): weights do not fit the model: 1 missing (fc.weight)" in err, err
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


# --- the reliability page ------------------------------------------------------------------------
def test_every_promise_on_the_reliability_page_names_tests_that_exist():
    """docs/reliability.md lists a promise only with its proof: each row's last cell names tests, and they exist."""
    root = Path(__file__).resolve().parents[1]
    rows = [line for line in (root / "docs/reliability.md").read_text().splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| Fault |") and len(rows) > 10
    for row in rows[1:]:
        proofs = re.findall(r"`(tests/\w+\.py)(?:::(\w+))?`", row.rstrip(" |").rsplit("|", 1)[-1])
        assert proofs, row
        for path, name in proofs:
            source = (root / path).read_text()
            assert not name or re.search(rf"^def {name}\(", source, re.MULTILINE), (path, name)
