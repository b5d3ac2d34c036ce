"""Checkpoint files: atomic writes, tensors-only reads onto the CPU whatever device wrote them, the RNG state,
and one-line errors naming the file.

A whole run's state through a checkpoint is tests/test_run_state.py; kill -9 and resume is tests/test_resume.py.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch
from pickled_code import RunsCodeWhenUnpickled

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
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable resreg checkpoint (")
    assert re.search(r"\((\w+Error|\w+Exception): ", message) and "NoneType" not in message, message  # the cause
    assert info.value.__cause__ is None and info.value.__suppress_context__  # `from None`: no chained traceback


def test_a_checkpoint_with_pickled_objects_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Even where the environment says to unpickle anything: torch's switch for loads that do not say
    # weights_only (torch >= 2.6 reads weights only by default). Its opposite, if set too, would make
    # torch.load refuse every call and hide what is tested here.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    marker = tmp_path / "code-ran"
    path = checkpoint.save(tmp_path / "evil.pt", {"step": 1, "payload": RunsCodeWhenUnpickled(marker)})
    with pytest.raises(ResregError, match="holds objects other than tensors and plain data"):
        checkpoint.load(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"step": 1}, protocol=2))  # a plain pickle is not torch's format
    with pytest.raises(ResregError, match="not a readable resreg checkpoint"):
        checkpoint.load(path)


def test_a_gpu_runs_checkpoint_resumes_on_a_cpu_only_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    trained = torch.nn.Linear(3, 2)
    with monkeypatch.context() as gpu:  # torch.save records each tensor's device: "cuda:0" as a GPU run writes it
        gpu.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        path = checkpoint.save(tmp_path / "last.pt", {"step": 5, "model": trained.state_dict()})
    state = checkpoint.load(path)
    assert state["model"]["weight"].device.type == "cpu"  # on a machine with a GPU too: load reads onto the CPU
    resumed = torch.nn.Linear(3, 2)
    checkpoint.restore_weights(resumed, state, "model")
    assert torch.equal(resumed.weight, trained.weight) and torch.equal(resumed.bias, trained.bias)


def test_the_rng_state_restores_the_generator(tmp_path: Path):
    torch.manual_seed(3)
    state = checkpoint.rng_state()
    assert set(state) == ({"torch", "cuda"} if torch.cuda.is_available() and torch.cuda.is_initialized() else {"torch"})
    expected = torch.rand(5)
    torch.manual_seed(4)
    path = checkpoint.save(tmp_path / "rng.pt", {"rng": state})
    checkpoint.set_rng_state(checkpoint.load(path)["rng"])
    assert torch.equal(torch.rand(5), expected)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> list:
    """CUDA's RNG calls recorded on a machine without a GPU (the logic of when they are made is what is tested)."""
    calls: list = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.tensor([1, 2], dtype=torch.uint8)])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: calls.append(states))
    return calls


def test_the_cuda_generators_are_saved_and_restored_when_cuda_is_in_use(fake_cuda, monkeypatch):
    state = checkpoint.rng_state()
    assert set(state) == {"torch", "cuda"} and torch.equal(state["cuda"][0], torch.tensor([1, 2], dtype=torch.uint8))
    checkpoint.set_rng_state(state)
    assert fake_cuda == [state["cuda"]]
    checkpoint.set_rng_state({"torch": state["torch"]})  # saved without a GPU: the GPU's generators stay
    assert len(fake_cuda) == 1
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # reading them would start CUDA: don't
    assert set(checkpoint.rng_state()) == {"torch"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a GPU checkpoint resumed on a CPU
    checkpoint.set_rng_state(state)
    assert len(fake_cuda) == 1
