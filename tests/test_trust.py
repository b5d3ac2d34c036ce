"""The trust boundary: a spec read from a file, a folder or a repo describes an architecture and nothing else.

Real safetensors files and folders in tmp dirs; `torch.load` is replaced by a tripwire where a test
proves that data cannot make resreg unpickle anything.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml

import resreg
from resreg.errors import RegistryError, WeightsError
from resreg.models import load_model, load_pretrained
from resreg.plugins import reset_plugins
from resreg.weights import save_model

SMALL = {"preset": "resnet20", "depths": [1, 1, 1]}


@pytest.fixture(scope="module")
def small() -> torch.nn.Module:
    torch.manual_seed(0)
    return resreg.create_model(SMALL).eval()


@pytest.fixture
def no_unpickling(monkeypatch):
    """torch.load fails the test: nothing here may unpickle."""
    calls = []

    def tripwire(*args, **kwargs):
        calls.append(args)
        pytest.fail(f"torch.load was called with {args}")

    monkeypatch.setattr(torch, "load", tripwire)
    yield calls
    assert calls == []


def _with_header(path: Path, tensors: dict[str, torch.Tensor], spec: object, **extra: str) -> Path:
    safetensors.torch.save_file(tensors, str(path), metadata={"resreg_spec": json.dumps(spec), **extra})
    return path


def test_a_header_asking_for_a_pickle_is_refused_and_nothing_is_unpickled(small, tmp_path, no_unpickling):
    torch.save(small.state_dict(), tmp_path / "weights.pth")  # a real pickle: torch.load would read it
    spec = {**small.resreg_spec, "pretrained": str(tmp_path / "weights.pth"), "pretrained_allow_pickle": True}
    evil = _with_header(tmp_path / "evil.safetensors", dict(small.state_dict()), spec)
    with pytest.raises(WeightsError) as info:
        load_model(evil)
    message = str(info.value)
    assert message.startswith(f"{evil}: spec.pretrained: refused: a spec read from a file or repo names a weight")
    assert "\n" not in message
    # The caller's own flag does not make the file's spec trusted either.
    with pytest.raises(WeightsError, match=r"spec\.pretrained: refused"):
        load_model(evil, allow_pickle=True)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"pretrained_allow_pickle": True}, "spec.pretrained_allow_pickle: refused"),
        ({"pretrained_strip_prefix": "model."}, "spec.pretrained_strip_prefix: refused"),
        ({"block": {"type": "basic", "checkpoint_path": "x"}}, "spec.block.checkpoint_path: refused"),
        ({"stem": "hf-hub:someone/else"}, "spec.stem: refused: 'hf-hub:someone/else' reads as a path, URL or repo"),
        ({"stem": "~/.ssh/id_rsa"}, "spec.stem: refused: '~/.ssh/id_rsa' reads as a path"),
        ({"stem": "https://example.com/w"}, "spec.stem: refused"),
        ({"stem": "weights.pth"}, "spec.stem: refused"),
        ({"stem": "a\nb"}, "spec.stem: 'a\\nb' holds control characters"),
        ({"depths": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "nested deeper than 32"),
    ],
)
def test_untrusted_keys_and_values_are_refused_naming_key_and_file(small, tmp_path, no_unpickling, change, refused):
    path = _with_header(tmp_path / "m.safetensors", dict(small.state_dict()), {**small.resreg_spec, **change})
    with pytest.raises(WeightsError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ") and refused in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_resreg_yaml_of_a_folder_is_untrusted_too(small, tmp_path, no_unpickling):
    save_model(small, tmp_path / "model.safetensors")
    record = {"spec": {**small.resreg_spec, "pretrained": "hf-hub:someone/else", "pretrained_allow_pickle": True}}
    (tmp_path / "resreg.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(WeightsError, match=r"resreg\.yaml: spec\.pretrained: refused"):
        load_model(tmp_path)
    record = {"spec": small.resreg_spec, "components": [{"kind": "block", "name": "x", "distribution": "a; rm -rf ~"}]}
    (tmp_path / "resreg.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(WeightsError, match=r"components\.0\.distribution: 'a; rm -rf ~' is not a distribution name"):
        load_model(tmp_path)


def test_ensemble_members_of_an_untrusted_spec_must_be_inline(small, tmp_path, monkeypatch, no_unpickling):
    # A run dir `other` in the working directory: a member named `other` would read it.
    run = tmp_path / "other"
    run.mkdir()
    (run / "config.yaml").write_text("model: resnet20\n")
    save_model(small, run / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    tensors = {f"members.0.{k}": v for k, v in small.state_dict().items()}
    spec = {"type": "ensemble", "members": ["other"], "combiner": "mean_probs"}
    path = _with_header(tmp_path / "ensemble.safetensors", tensors, spec)
    with pytest.raises(WeightsError) as info:
        load_model(path)
    assert "members.0: refused: a member of a spec read from" in str(info.value)
    assert "must be an inline spec whose weights are in the same file, got 'other'" in str(info.value)
    # The same ensemble, inline, loads: the trusted path (a spec of the caller's own) still takes run dirs.
    inline = {**spec, "members": [small.resreg_spec]}
    loaded = load_model(_with_header(tmp_path / "inline.safetensors", tensors, inline))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.eval().forward_members(x)[0], small(x))
    assert resreg.create_model({"type": "ensemble", "members": ["other"]}).members[0] is not None


def test_a_spec_far_bigger_than_its_file_is_refused_before_it_costs_memory_or_time(small, tmp_path):
    tensors = dict(small.state_dict())
    started = time.perf_counter()
    for change, expected in (
        ({"num_classes": 10**12}, "describes 65,000,000,075,127 weight values but the file holds 75,777"),
        ({"depths": [10**7, 1, 1]}, "builds far more layers than the file has tensors"),
    ):
        path = _with_header(tmp_path / "big.safetensors", tensors, {**small.resreg_spec, **change})
        with pytest.raises(WeightsError, match=expected):
            load_model(path)
    assert time.perf_counter() - started < 10


def test_a_builder_failing_on_data_is_one_line_naming_the_file(small, tmp_path):
    spec = {**small.resreg_spec, "widths": [-16, 32, 64]}
    path = _with_header(tmp_path / "neg.safetensors", dict(small.state_dict()), spec)
    with pytest.raises(resreg.errors.ResregError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    unknown = _with_header(tmp_path / "unknown.safetensors", dict(small.state_dict()), {**small.resreg_spec, "x": 1})
    with pytest.raises(resreg.errors.ConfigError, match=rf"^{unknown}: model.x: unknown argument 'x'"):
        load_model(unknown)


# --- checkpoints saved from a wrapper module ---------------------------------------------------------
def test_a_shared_prefix_is_named_with_the_option_that_strips_it(small, tmp_path):
    wrapped = {f"model.backbone.{k}": v for k, v in small.state_dict().items()}
    safetensors.torch.save_file(wrapped, str(tmp_path / "wrapped.safetensors"))
    with pytest.raises(WeightsError) as info:
        load_pretrained(resreg.create_model(SMALL), tmp_path / "wrapped.safetensors")
    assert "every key starts with 'model.backbone.'" in str(info.value)
    assert "pretrained_strip_prefix: 'model.backbone.'" in str(info.value)
    x = torch.randn(1, 3, 32, 32)
    (tmp_path / "folder").mkdir()
    (tmp_path / "wrapped.safetensors").rename(tmp_path / "folder" / "model.safetensors")
    torch.save({"state_dict": wrapped}, tmp_path / "wrapped.pth")
    for source, extra in (
        (tmp_path / "folder" / "model.safetensors", {}),
        (tmp_path / "folder", {}),
        (tmp_path / "wrapped.pth", {"pretrained_allow_pickle": True}),
    ):
        spec = {**SMALL, "pretrained": str(source), "pretrained_strip_prefix": "model.backbone.", **extra}
        model = resreg.create_model(spec).eval()
        with torch.no_grad():
            assert torch.equal(model(x), small(x)), source


def test_keys_that_differ_otherwise_get_the_usual_listing(small, tmp_path):
    state = {f"model.{k}": v for k, v in small.state_dict().items() if not k.startswith("fc.")}
    with pytest.raises(WeightsError, match=r"weights do not fit the model: \d+ missing") as info:
        resreg.weights.load_state_dict_strict(resreg.create_model(SMALL), state)
    assert "strip" not in str(info.value)


# --- a component of a disabled plugin ----------------------------------------------------------------
@pytest.fixture
def highway_disabled(monkeypatch):
    monkeypatch.setenv("RESREG_DISABLE_PLUGINS", "highway")
    reset_plugins()
    yield
    monkeypatch.delenv("RESREG_DISABLE_PLUGINS")
    reset_plugins()


def test_a_component_of_a_disabled_plugin_is_named_as_disabled(tmp_path, request):
    path = save_model(resreg.create_model({**SMALL, "block": "highway"}), tmp_path / "highway.safetensors")
    request.getfixturevalue("highway_disabled")
    with pytest.raises(RegistryError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}: block 'highway' is provided by plugin 'highway' (resreg), which is disabled "
        "(RESREG_DISABLE_PLUGINS); remove it from RESREG_DISABLE_PLUGINS"
    )
