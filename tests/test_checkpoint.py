"""Checkpoint files: atomic writes, tensors-only reads, the RNG state, and one-line errors naming the file.

A whole run's state through a checkpoint is tests/test_run_state.py; kill -9 and resume is tests/test_resume.py.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from resreg.engine import checkpoint
from resreg.errors import ResregError


def test_save_writes_atomically_and_load_reads_it_back_on_the_cpu(tmp_path: Path):
    path = tmp_path / "checkpoints" / checkpoint.LAST
    state = {"step": 7, "weights": torch.arange(6.0).view(2, 3), "nested": {"best_error": 0.25, "list": [1, 2]}}
    assert checkpoint.save(path, state) == path
    assert sorted(p.name for p in path.parent.iterdir()) == [checkpoint.LAST]  # no temporary file left behind
    loaded = checkpoint.load(path)
    assert loaded["step"] == 7 and loaded["nested"] == {"best_error": 0.25, "list": [1, 2]}
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["weights"].device.type == "cpu"
    checkpoint.save(path, {"step": 8})  # replacing a checkpoint replaces it whole
    assert checkpoint.load(path) == {"step": 8}


def test_the_names_of_a_run_directorys_checkpoints():
    assert (checkpoint.LAST, checkpoint.BEST) == ("last.pt", "best.pt")


def test_a_missing_checkpoint_is_a_one_line_error_naming_it(tmp_path: Path):
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    with pytest.raises(ResregError) as info:
        checkpoint.load(path)
    message = str(info.value)
    assert message.startswith(f"no checkpoint at {path}: ") and "checkpoints/last.pt" in message
    assert "\n" not in message
    path.parent.mkdir(parents=True)
    path.mkdir()  # a directory is not a checkpoint either
    with pytest.raises(ResregError, match="no checkpoint at"):
        checkpoint.load(path)


def test_a_truncated_checkpoint_is_an_error_naming_the_file(tmp_path: Path):
    path = checkpoint.save(tmp_path / "last.pt", {"step": 1, "weights": torch.zeros(100)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ResregError) as info:
        checkpoint.load(path)
    assert str(info.value).startswith(f"{path}: not a readable resreg checkpoint (")
    assert info.value.__cause__ is None and info.value.__suppress_context__  # `from None`: no chained traceback


class Payload:
    """Not a tensor, number, string, list or dict: unpickling it would run code of the file's choosing."""


def test_a_checkpoint_with_pickled_objects_is_refused(tmp_path: Path):
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "payload": Payload()}, path)
    with pytest.raises(ResregError, match="not a readable resreg checkpoint"):
        checkpoint.load(path)
    path.write_bytes(pickle.dumps({"step": 1}, protocol=2))  # a plain pickle is not torch's format
    with pytest.raises(ResregError, match="not a readable resreg checkpoint"):
        checkpoint.load(path)


def test_the_rng_state_restores_the_generator(tmp_path: Path):
    torch.manual_seed(3)
    state = checkpoint.rng_state()
    assert set(state) == ({"torch", "cuda"} if torch.cuda.is_available() and torch.cuda.is_initialized() else {"torch"})
    expected = torch.rand(5)
    torch.manual_seed(4)
    path = checkpoint.save(tmp_path / "rng.pt", {"rng": state})
    checkpoint.set_rng_state(checkpoint.load(path)["rng"])
    assert torch.equal(torch.rand(5), expected)
