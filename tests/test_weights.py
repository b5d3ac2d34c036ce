"""Weights: safetensors with the spec inside, strict loading, `pretrained:` sources, adaptation, converters.

Real files in tmp dirs, real presets, timm's own `save_for_hf` for the timm layout; the CLI cases run
`python -m resreg` in subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch

import resreg
from resreg.errors import RegistryError, WeightsError
from resreg.models import load_model, load_pretrained
from resreg.registry import Provider, Registry
from resreg.weights import convert_state_dict, load_state_dict_strict, save_model


@pytest.fixture(scope="module")
def resnet20() -> torch.nn.Module:
    torch.manual_seed(0)
    return resreg.create_model("resnet20").eval()


@pytest.fixture(scope="module")
def saved(resnet20: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(resnet20, tmp_path_factory.mktemp("w") / "model.safetensors", metadata={"epochs": 3})


def _max_diff(a: torch.nn.Module, b: torch.nn.Module, shape: tuple[int, ...] = (2, 3, 32, 32)) -> float:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return (a.eval()(x) - b.eval()(x)).abs().max().item()


# --- one file rebuilds the model ---------------------------------------------------------------
def test_saved_file_rebuilds_the_model_with_identical_outputs(resnet20, saved):
    loaded = load_model(saved)
    assert loaded.resreg_spec == resnet20.resreg_spec
    assert _max_diff(loaded, resnet20) == 0.0


def test_file_header_holds_spec_version_provenance_and_metadata(resnet20, saved):
    with safetensors.safe_open(str(saved), framework="pt") as f:
        meta = f.metadata()
    assert json.loads(meta["resreg_spec"]) == resnet20.resreg_spec
    assert meta["resreg_version"] == resreg.__version__ and meta["epochs"] == "3"
    components = json.loads(meta["resreg_components"])
    assert {"kind": "builder", "name": "resnet", "distribution": "resreg", "version": resreg.__version__} in components


def test_save_is_atomic_and_leaves_no_temp_files(resnet20, tmp_path):
    target = tmp_path / "m.safetensors"
    target.write_bytes(b"the old, good file")

    class Boom(RuntimeError):
        pass

    broken = resreg.create_model("resnet20")
    broken.state_dict = lambda: (_ for _ in ()).throw(Boom())  # fails half way through a save
    with pytest.raises(Boom):
        save_model(broken, target)
    assert target.read_bytes() == b"the old, good file"
    save_model(resnet20, target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_channels_last_model_saves(resnet20, tmp_path):
    model = resreg.create_model("resnet20").to(memory_format=torch.channels_last)
    loaded = load_model(save_model(model, tmp_path / "m.safetensors")).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


# --- strict loading ----------------------------------------------------------------------------
def test_strict_error_lists_missing_unexpected_and_mismatched_keys_with_counts(resnet20):
    state = dict(resnet20.state_dict())
    del state["conv1.weight"], state["bn1.weight"]
    state["extra.weight"] = torch.zeros(1)
    state["fc.bias"] = torch.zeros(3)
    with pytest.raises(WeightsError) as info:
        load_state_dict_strict(resreg.create_model("resnet20"), state, where="w.safetensors")
    message = str(info.value)
    assert message.startswith("w.safetensors: weights do not fit the model: ")
    assert "2 missing (conv1.weight, bn1.weight)" in message and "1 unexpected (extra.weight)" in message
    assert "1 shape mismatch (fc.bias (3,) vs model (10,))" in message and "\n" not in message


def test_strict_error_shows_the_first_few_and_how_many_more(resnet20):
    with pytest.raises(WeightsError, match=r"\d+ missing \([^)]*, \.\.\. \(\d+ more\)\)"):
        load_state_dict_strict(resreg.create_model("resnet20"), {})


def test_wrong_architecture_is_refused(saved):
    with pytest.raises(WeightsError, match="weights do not fit the model"):
        load_pretrained(resreg.create_model("resnet32"), saved)


# --- sources -----------------------------------------------------------------------------------
def test_pretrained_from_file_folder_and_create_model(resnet20, saved):
    assert _max_diff(resreg.create_model("resnet20", pretrained=str(saved)), resnet20) == 0.0
    assert _max_diff(resreg.create_model("resnet20", pretrained=str(saved.parent)), resnet20) == 0.0


def test_wrapper_prefixes_are_stripped(resnet20, tmp_path):
    state = {f"module._orig_mod.{k}": v for k, v in resnet20.state_dict().items()}
    safetensors.torch.save_file(state, str(tmp_path / "ddp.safetensors"))
    model = resreg.create_model("resnet20")
    load_pretrained(model, tmp_path / "ddp.safetensors")
    assert _max_diff(model, resnet20) == 0.0


def test_pickle_needs_the_opt_in_and_is_read_weights_only(resnet20, tmp_path):
    torch.save({"state_dict": resnet20.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    with pytest.raises(WeightsError, match=r"pickle file.*allow_pickle=True"):
        load_pretrained(resreg.create_model("resnet20"), tmp_path / "ckpt.pth")
    model = resreg.create_model("resnet20")
    load_pretrained(model, tmp_path / "ckpt.pth", allow_pickle=True)
    assert _max_diff(model, resnet20) == 0.0
    torch.save({"weights": resnet20.state_dict(), "code": Path("x")}, tmp_path / "evil.pth")  # not weights-only
    with pytest.raises(WeightsError, match="cannot be read as a weights-only state dict"):
        load_pretrained(resreg.create_model("resnet20"), tmp_path / "evil.pth", allow_pickle=True)


def test_corrupt_truncated_and_missing_files(saved, tmp_path):
    data = saved.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.safetensors").write_bytes(b"\xff" * 64)
    for name in ("truncated", "corrupt"):
        with pytest.raises(WeightsError, match="not a valid safetensors file"):
            load_model(tmp_path / f"{name}.safetensors")
    with pytest.raises(WeightsError, match="no such weights file or folder"):
        load_model(tmp_path / "nope.safetensors")
    with pytest.raises(WeightsError, match=r"no model\.safetensors in this folder"):
        load_model(tmp_path)


def test_file_without_spec_cannot_rebuild(resnet20, tmp_path):
    safetensors.torch.save_file(dict(resnet20.state_dict()), str(tmp_path / "bare.safetensors"))
    with pytest.raises(WeightsError, match="carries no model spec"):
        load_model(tmp_path / "bare.safetensors")


# --- adaptation --------------------------------------------------------------------------------
def test_in_chans_adapts_the_first_conv_as_timm_does(resnet20, saved):
    grey = resreg.create_model("resnet20", in_chans=1, pretrained=str(saved))
    torch.testing.assert_close(grey.conv1.weight, resnet20.conv1.weight.sum(1, keepdim=True))
    five = resreg.create_model("resnet20", in_chans=5)
    load_pretrained(five, saved)
    assert five.conv1.weight.shape[1] == 5


def test_num_classes_differing_loads_all_but_the_classifier_only_when_asked(resnet20, saved):
    with pytest.raises(WeightsError, match=r"10 classes and the model 7 .*skip_classifier=True"):
        resreg.create_model("resnet20", num_classes=7, pretrained=str(saved))
    model = resreg.create_model("resnet20", num_classes=7)
    fc_before = model.fc.weight.clone()
    load_pretrained(model, saved, skip_classifier=True)
    torch.testing.assert_close(model.conv1.weight, resnet20.conv1.weight)
    torch.testing.assert_close(model.fc.weight, fc_before)
    headless = resreg.create_model("resnet20", num_classes=0, pretrained=str(saved))  # no head: nothing to ask
    torch.testing.assert_close(headless.conv1.weight, resnet20.conv1.weight)


# --- converters and provenance -----------------------------------------------------------------
def test_registered_converters_run_in_order_and_a_broken_one_is_named():
    registry = Registry()
    rename = lambda sd: {k.replace("old", "new"): v for k, v in sd.items()}  # noqa: E731
    registry.register("converter", "a_rename", rename, provider=Provider("renamer", "renamer-dist"))
    assert list(convert_state_dict({"module.old.w": torch.zeros(1)}, registry)) == ["new.w"]
    registry.register("converter", "b_broken", lambda sd: 1 / 0, provider=Provider("broken", "broken-dist"))
    with pytest.raises(WeightsError, match="converter 'b_broken' of plugin 'broken' \\(broken-dist\\) failed"):
        convert_state_dict({}, registry)


def test_torchvision_legacy_densenet_keys_load_through_the_registered_converter(tmp_path):
    model = resreg.create_model("densenet40_k12").eval()
    legacy = {  # as torchvision's old checkpoints: `norm.1`, `conv.1`, and no BatchNorm step counters
        k.replace("norm1.", "norm.1.").replace("conv1.", "conv.1."): v
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert any("norm.1." in k for k in legacy) and any("conv.1." in k for k in legacy)
    torch.save(legacy, tmp_path / "densenet.pth")
    fresh = resreg.create_model("densenet40_k12")
    load_pretrained(fresh, tmp_path / "densenet.pth", allow_pickle=True)
    assert _max_diff(fresh, model) == 0.0


def test_missing_component_names_the_distribution_to_install(resnet20, tmp_path):
    tensors = dict(resnet20.state_dict())
    spec = {**resnet20.resreg_spec, "block": {"type": "se_basic"}}
    components = [{"kind": "block", "name": "se_basic", "distribution": "resreg-se", "version": "0.2.0"}]
    metadata = {"resreg_spec": json.dumps(spec), "resreg_components": json.dumps(components)}
    safetensors.torch.save_file(tensors, str(tmp_path / "se.safetensors"), metadata=metadata)
    with pytest.raises(RegistryError, match=r"block 'se_basic' is not provided by any installed plugin.*"
                       r"'resreg-se' 0\.2\.0: pip install resreg-se"):  # fmt: skip
        load_model(tmp_path / "se.safetensors")


# --- timm's own files --------------------------------------------------------------------------
def test_timm_folder_loads_into_the_resreg_preset_with_identical_logits(tmp_path):
    timm = pytest.importorskip("timm")
    from timm.models import save_for_hf

    reference = timm.create_model("resnet18", pretrained=False).eval()
    save_for_hf(reference, str(tmp_path), safe_serialization=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    shape = (2, 3, 64, 64)
    assert _max_diff(load_model(tmp_path), reference, shape) <= 1e-5
    assert _max_diff(resreg.create_model("resnet18", pretrained=str(tmp_path)), reference, shape) <= 1e-5
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "architecture": "resnet18x.a1_in1k"}))
    with pytest.raises(WeightsError, match="unknown resreg preset 'resnet18x' \\(did you mean 'resnet18'"):
        load_model(tmp_path)


# --- the CLI: one line, exit 2 -----------------------------------------------------------------
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESREG_DEBUG": "", "HF_HUB_OFFLINE": "1", "HF_HOME": str(cwd / "hf")}
    return subprocess.run(
        [sys.executable, "-m", "resreg", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def test_cli_bad_weights_files_are_one_line_errors_with_status_2(resnet20, saved, tmp_path):
    data = saved.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[:-100])
    (tmp_path / "corrupt.safetensors").write_bytes(data[:8] + b"{not json" + data[17:])
    torch.save(resnet20.state_dict(), tmp_path / "weights.pth")
    cases = {
        "truncated.safetensors": "not a valid safetensors file",
        "corrupt.safetensors": "not a valid safetensors file",
        "missing.safetensors": "no such weights file or folder",
        "weights.pth": "a pickle file, and unpickling can run code",
    }
    for name, expected in cases.items():
        result = _cli("push", name, "me/model", cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert result.stderr.startswith("resreg push: error: ") and result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr, (name, result.stderr)


# --- the values are checked when loaded: NaN, inf, integer and bool weights ------------------------------
def _with_tensor_changed(saved: Path, path: Path, key: str, change) -> Path:
    """A copy of a real saved model (header and all) with one tensor replaced."""
    tensors, metadata = safetensors.torch.load_file(str(saved)), safetensors.safe_open(str(saved), "pt").metadata()
    tensors[key] = change(tensors[key])
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return path


BAD_VALUES = {
    "nan": (lambda t: t.index_fill(0, torch.tensor([3]), float("nan")), "holds non-finite values (NaN or infinity)"),
    "inf": (lambda t: t.index_fill(0, torch.tensor([0]), float("inf")), "holds non-finite values (NaN or infinity)"),
    "int64": (lambda t: (t * 100).to(torch.int64), "holds int64 values where the model keeps float32"),
    "bool": (lambda t: t > 0, "holds bool values where the model keeps float32"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_refused_by_load_model_and_pretrained_naming_the_tensor(saved, tmp_path, case):
    change, expected = BAD_VALUES[case]
    bad = _with_tensor_changed(saved, tmp_path / f"{case}.safetensors", "layer2.0.conv1.weight", change)
    for load in (lambda: load_model(bad), lambda: resreg.create_model("resnet20", pretrained=str(bad))):
        with pytest.raises(WeightsError) as refused:
            load()
        assert str(refused.value).startswith(f"{bad}: layer2.0.conv1.weight {expected}"), refused.value


def test_half_precision_weights_load_as_today_and_the_step_counters_stay_integers(resnet20, saved, tmp_path):
    half = tmp_path / "half.safetensors"
    tensors = {k: v.half() if v.is_floating_point() else v for k, v in resnet20.state_dict().items()}
    safetensors.torch.save_file(tensors, str(half))
    model = resreg.create_model("resnet20", pretrained=str(half))
    assert model.conv1.weight.dtype == torch.float32
    assert torch.equal(model.conv1.weight, resnet20.conv1.weight.half().float())
    assert model.bn1.num_batches_tracked.dtype == torch.int64


def test_cli_eval_and_predict_refuse_nan_and_int64_weights_in_one_line(saved, tmp_path, cli):
    from PIL import Image

    Image.new("RGB", (32, 32), (120, 30, 200)).save(tmp_path / "photo.png")
    for case in ("nan", "int64"):
        change, expected = BAD_VALUES[case]
        bad = _with_tensor_changed(saved, tmp_path / f"{case}.safetensors", "fc.weight", change)
        for command in (("predict", str(bad), str(tmp_path / "photo.png")), ("eval", str(bad), "data=synthetic")):
            result = cli(*command)
            assert result.status == 2, (command, result)
            assert result.err.startswith(f"resreg {command[0]}: error: {bad}: fc.weight {expected}"), result.err
            assert result.err.count("\n") == 1 and "Traceback" not in result.err
            assert result.out == ""  # no prediction, no metrics: nothing computed from those weights


def test_pretrained_false_means_no_weights_whatever_the_spec_names(resnet20, saved):
    torch.manual_seed(1)
    declared = resreg.create_model({"preset": "resnet20", "pretrained": str(saved)})
    assert _max_diff(declared, resnet20) == 0.0 and declared.resreg_pretrained["source"] == str(saved)
    torch.manual_seed(1)
    fresh = resreg.create_model({"preset": "resnet20", "pretrained": str(saved)}, pretrained=False)
    assert not torch.equal(fresh.conv1.weight, resnet20.conv1.weight) and not hasattr(fresh, "resreg_pretrained")


def test_source_names_are_taken_apart_in_one_place_and_every_command_accepts_them(saved, tmp_path, cli):
    from PIL import Image

    from resreg.loading.names import parse_source

    hub = parse_source("hf-hub:me/r20@v1")
    assert (hub.hub_ref, hub.repo_id, hub.path, hub.located) == ("me/r20@v1", "me/r20", None, True)
    local = parse_source(f"local-dir:{saved.parent}")
    assert (local.hub_ref, local.path, local.located) == (None, saved.parent, True)
    assert parse_source("~/w.safetensors").path == Path.home() / "w.safetensors"
    assert not parse_source("~/w.safetensors").located
    Image.new("RGB", (32, 32), (120, 30, 200)).save(tmp_path / "photo.png")
    for source in (f"local-dir:{saved.parent}", str(saved.parent), str(saved)):
        result = cli("predict", source, str(tmp_path / "photo.png"), "--json")
        assert result.status == 0 and json.loads(result.out)["predictions"], (source, result.err)
