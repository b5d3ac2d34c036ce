"""Opening weight sources and building models from them, at the edges mutation testing (docs/testing.md)
found no test looking at: which file of a folder is read and which wins, pickles, timm's config.json,
and the one-line errors word for word.

The folders are written as `resreg push` writes a repo (`resreg.publish.upload_files`), pickles with
`torch.save`, and weights without a record by dropping header entries from a real saved file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch
from pickled_code import RunsCodeWhenUnpickled

import resreg
from resreg.artifact import HEADER_KEY
from resreg.errors import ConfigError, RegistryError, WeightsError
from resreg.layout import MODEL_FILE, RESREG_FILE, TIMM_CONFIG_FILE
from resreg.loading.components import require_components
from resreg.models import load_model, load_pretrained
from resreg.plugins import DISABLE_ENV, PluginInfo
from resreg.publish import upload_files
from resreg.registry import Provider, Registry
from resreg.weights import save_model
from resreg.weights.safetensors_io import COMPONENTS_KEY, SPEC_KEY

LABELS = [f"class{i}" for i in range(10)]  # resnet20 has 10 classes


@pytest.fixture(scope="module")
def resnet20() -> torch.nn.Module:
    torch.manual_seed(0)
    return resreg.create_model("resnet20").eval()


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)))


def save(model: torch.nn.Module, path: Path, labels: list[str] | None = None) -> Path:
    """`save_model` of `model` with `labels` as its class names (recorded in the header), or none."""
    model.label_names = labels
    return save_model(model, path)


def write_repo(folder: Path, model: torch.nn.Module, *, labels: list[str] | None = None) -> Path:
    """`folder` holding what `resreg push` uploads for `model`: model.safetensors, resreg.yaml, config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = save(model, folder / MODEL_FILE, labels)
    for name, content in upload_files(weights, "me/r20").files:
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
    return folder


def timm_folder(folder: Path, model: torch.nn.Module) -> Path:
    """A repo in timm's layout: config.json and model.safetensors whose header holds no spec."""
    write_repo(folder, model, labels=LABELS)
    with_header(folder / MODEL_FILE, drop=(SPEC_KEY,))
    (folder / RESREG_FILE).unlink()
    return folder


def timm_pickle_folder(folder: Path, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> Path:
    """A repo in timm's old layout: config.json and the weights pickled as pytorch_model.bin."""
    write_repo(folder, model, labels=LABELS)
    (folder / MODEL_FILE).unlink()
    (folder / RESREG_FILE).unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def with_header(weights: Path, *, drop: tuple[str, ...] = (), **entries: str) -> Path:
    """Rewrite a saved file with header entries replaced or dropped (the tensors kept)."""
    with safetensors.safe_open(str(weights), "pt") as f:
        metadata = {k: v for k, v in {**f.metadata(), **entries}.items() if k not in drop}
    safetensors.torch.save_file(safetensors.torch.load_file(str(weights)), str(weights), metadata=metadata)
    return weights


def edit(path: Path, *, drop: tuple[str, ...] = (), **changes: object) -> None:
    """Change top-level entries of a repo's config.json or resreg.yaml, as someone editing it by hand would."""
    import yaml

    record = {k: v for k, v in {**yaml.safe_load(path.read_text()), **changes}.items() if k not in drop}
    path.write_text(json.dumps(record) if path.suffix == ".json" else yaml.safe_dump(record))


def weights_error(load, *args, **kwargs) -> str:
    with pytest.raises(WeightsError) as error:
        load(*args, **kwargs)
    return str(error.value)


# --- which file of a folder gives what ----------------------------------------------------------------------
def test_the_weights_header_record_wins_over_resreg_yaml_and_config_json(resnet20, tmp_path):
    folder = write_repo(tmp_path / "repo", resnet20, labels=LABELS)
    other = [f"other{i}" for i in range(10)]
    edit(folder / RESREG_FILE, pretrained_cfg={"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3,
                                                    "label_names": other})  # fmt: skip
    edit(folder / TIMM_CONFIG_FILE, label_names=other)
    assert load_model(folder).label_names == LABELS


def test_weights_without_a_record_take_it_from_resreg_yaml(resnet20, tmp_path):
    folder = write_repo(tmp_path / "repo", resnet20, labels=LABELS)
    with_header(folder / MODEL_FILE, drop=(HEADER_KEY,))
    (folder / TIMM_CONFIG_FILE).unlink()
    model = load_model(folder)
    assert model.label_names == LABELS and model.pretrained_cfg["input_size"] == (3, 32, 32)


def test_a_bad_record_in_resreg_yaml_is_named_by_that_file(resnet20, tmp_path):
    folder = write_repo(tmp_path / "repo", resnet20, labels=LABELS)
    with_header(folder / MODEL_FILE, drop=(HEADER_KEY,))
    edit(folder / RESREG_FILE, pretrained_cfg={"input_size": [3, 32]})
    assert weights_error(load_model, folder) == (
        f"{folder / RESREG_FILE}: pretrained_cfg.input_size must be [channels, height, width], got [3, 32]"
    )


def test_bad_components_in_resreg_yaml_are_named_by_that_file(resnet20, tmp_path):
    folder = write_repo(tmp_path / "repo", resnet20)
    edit(folder / RESREG_FILE, components=["block"])
    assert weights_error(load_model, folder) == (
        f"{folder / RESREG_FILE}: components.0: expected a mapping with kind, name, distribution, version"
    )


def test_resreg_yaml_without_a_record_leaves_it_to_config_json(resnet20, tmp_path):
    folder = write_repo(tmp_path / "repo", resnet20, labels=LABELS)
    with_header(folder / MODEL_FILE, drop=(HEADER_KEY,))
    edit(folder / RESREG_FILE, drop=("pretrained_cfg",))
    model = load_model(folder)
    assert model.label_names == LABELS and model.resreg_spec == resnet20.resreg_spec


def test_weights_with_a_record_but_no_spec_take_the_spec_from_config_json_and_keep_their_record(resnet20, tmp_path):
    folder = timm_folder(tmp_path / "repo", resnet20)
    edit(folder / TIMM_CONFIG_FILE, label_names=[f"other{i}" for i in range(10)])
    model = load_model(folder)
    assert model.label_names == LABELS
    assert torch.equal(logits(model), logits(resnet20))


def test_config_json_is_not_read_when_the_weights_say_everything(resnet20, tmp_path):
    folder = write_repo(tmp_path / "repo", resnet20, labels=LABELS)
    (folder / RESREG_FILE).unlink()
    (folder / TIMM_CONFIG_FILE).write_text("{ not json")  # a tool's leftover: resreg never needs it here
    assert load_model(folder).label_names == LABELS


def test_a_folder_without_weights_names_the_first_eight_files_it_holds(tmp_path):
    for i in range(9):
        (tmp_path / f"f{i}.txt").write_text("")
    assert weights_error(load_model, tmp_path) == (
        f"{tmp_path}: no {MODEL_FILE} in this folder (found: f0.txt, f1.txt, f2.txt, f3.txt, f4.txt, f5.txt, f6.txt, "
        "f7.txt)"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert weights_error(load_model, empty) == f"{empty}: no {MODEL_FILE} in this folder (found: nothing)"


# --- timm's config.json -------------------------------------------------------------------------------------
def test_config_json_that_is_not_json_or_not_an_object_is_named_with_the_reason(resnet20, tmp_path):
    folder = timm_folder(tmp_path / "repo", resnet20)
    config = folder / TIMM_CONFIG_FILE
    config.write_text("{ not json")
    with pytest.raises(json.JSONDecodeError) as reason:
        json.loads(config.read_text())
    assert weights_error(load_model, folder) == f"{config}: not a readable timm config ({reason.value})"
    config.write_text('["resnet20"]')
    assert weights_error(load_model, folder) == f"{config}: not a timm config (a JSON object with 'architecture')"


@pytest.mark.parametrize(("architecture", "refusal"), [
    ("x" * 200, "unknown resreg preset 'xxxx"),  # long, but a name: looked up
    ("x" * 201, "expected a timm model name such as 'resnet50.a1_in1k'"),
    (20, "expected a timm model name such as 'resnet50.a1_in1k'"),
    ("resnet2O.a1_in1k", "unknown resreg preset 'resnet2O' (did you mean"),
])  # fmt: skip
def test_config_json_architecture_is_refused_naming_the_file(resnet20, tmp_path, architecture, refusal):
    folder = timm_folder(tmp_path / "repo", resnet20)
    edit(folder / TIMM_CONFIG_FILE, architecture=architecture)
    assert weights_error(load_model, folder).startswith(f"{folder / TIMM_CONFIG_FILE}: architecture: {refusal}")


def test_config_json_gives_the_input_channels_from_model_args_and_the_model_from_the_first_name_part(tmp_path):
    torch.manual_seed(0)
    grey = resreg.create_model("resnet20", in_chans=1).eval()
    folder = timm_folder(tmp_path / "repo", grey)
    assert json.loads((folder / TIMM_CONFIG_FILE).read_text())["model_args"] == {"in_chans": 1}  # timm's place
    edit(folder / TIMM_CONFIG_FILE, architecture="resnet20.custom_tag.v2")
    model = load_model(folder)
    assert model.conv1.weight.shape[1] == 1
    with torch.no_grad():
        x = torch.randn(2, 1, 32, 32)
        assert torch.equal(model.eval()(x), grey(x))


def test_a_config_json_spec_far_bigger_than_the_weights_is_refused_naming_config_json(resnet20, tmp_path):
    folder = timm_folder(tmp_path / "repo", resnet20)
    edit(folder / TIMM_CONFIG_FILE, num_classes=10**9)  # 64e9 weight values: refused before any is allocated
    message = weights_error(load_model, folder)
    assert message.startswith(f"{folder / TIMM_CONFIG_FILE}: the model spec describes ")
    assert message.endswith("the spec and the weights do not belong together")


def test_load_pretrained_reads_a_timm_folder_and_strips_a_prefix(resnet20, tmp_path):
    model = resreg.create_model("resnet20")
    load_pretrained(model, timm_folder(tmp_path / "repo", resnet20))
    assert torch.equal(logits(model), logits(resnet20))
    prefixed = {f"model.{k}": v for k, v in resnet20.state_dict().items()}
    safetensors.torch.save_file(prefixed, str(tmp_path / "wrapped.safetensors"))
    model = resreg.create_model("resnet20")
    load_pretrained(model, tmp_path / "wrapped.safetensors", strip_prefix="model.")
    assert torch.equal(logits(model), logits(resnet20))


# --- what a weights file's header says ----------------------------------------------------------------------
@pytest.mark.parametrize(("entries", "refusal"), [
    ({SPEC_KEY: "{not json"}, "the 'resreg_spec' metadata is not valid JSON"),
    ({COMPONENTS_KEY: "[{"}, "the 'resreg_components' metadata is not valid JSON"),
    ({COMPONENTS_KEY: '{"kind": "block"}'}, "components: expected a list of {kind, name, distribution, version}"),
])  # fmt: skip
def test_a_header_entry_that_cannot_be_read_is_named_with_the_file(resnet20, tmp_path, entries, refusal):
    saved = with_header(save(resnet20, tmp_path / MODEL_FILE), **entries)
    assert weights_error(load_model, saved).startswith(f"{saved}: {refusal}")


def test_a_source_without_a_spec_says_how_to_use_it_instead(resnet20, tmp_path):
    safetensors.torch.save_file(dict(resnet20.state_dict()), str(tmp_path / "bare.safetensors"))
    assert weights_error(load_model, tmp_path / "bare.safetensors") == (
        f"{tmp_path / 'bare.safetensors'}: carries no model spec (no {SPEC_KEY!r} metadata, resreg.yaml or "
        "config.json); build the model yourself and pass this source as pretrained="
    )


def test_a_spec_that_disagrees_with_its_tensors_on_the_classes_is_refused_not_loaded_without_them(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / MODEL_FILE)
    with_header(saved, **{SPEC_KEY: json.dumps({**resnet20.resreg_spec, "num_classes": 7})})
    assert weights_error(load_model, saved).startswith(f"{saved}: the weights have 10 classes and the model 7")


def test_a_loaded_model_records_its_source_and_no_commit_for_a_local_file(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / "m.safetensors")
    assert load_model(saved).resreg_pretrained == {"source": str(saved), "commit": None}


# --- pickles: refused unless asked, then weights only -------------------------------------------------------
def test_a_timm_folder_with_pytorch_model_bin_loads_only_when_pickles_are_allowed(resnet20, tmp_path):
    folder = timm_pickle_folder(tmp_path / "repo", resnet20, resnet20.state_dict())
    assert weights_error(load_model, folder) == (
        f"{folder / 'pytorch_model.bin'}: a pickle file, and unpickling can run code; convert it to safetensors, or "
        "opt in with allow_pickle=True (config: model.pretrained_allow_pickle: true) to read it with "
        "torch.load(weights_only=True)"
    )
    model = load_model(folder, allow_pickle=True)
    assert torch.equal(logits(model), logits(resnet20)) and model.label_names == LABELS


def test_a_pytorch_model_bin_that_does_not_fit_is_named_in_the_error(resnet20, tmp_path):
    state = {k: v for k, v in resnet20.state_dict().items() if k != "fc.bias"}
    folder = timm_pickle_folder(tmp_path / "repo", resnet20, state)
    message = weights_error(load_model, folder, allow_pickle=True)
    assert message == f"{folder / 'pytorch_model.bin'}: weights do not fit the model: 1 missing (fc.bias)"


def test_a_pickled_folder_named_as_the_model_loads_only_with_pretrained_allow_pickle(resnet20, tmp_path):
    folder = timm_pickle_folder(tmp_path / "repo", resnet20, resnet20.state_dict())
    assert "a pickle file" in weights_error(resreg.create_model, f"local-dir:{folder}")
    model = resreg.create_model(f"local-dir:{folder}", pretrained_allow_pickle=True)
    assert torch.equal(logits(model), logits(resnet20))


def test_a_specs_pickled_pretrained_loads_only_with_its_allow_pickle(resnet20, tmp_path):
    torch.save(resnet20.state_dict(), tmp_path / "w.pth")
    spec = {"preset": "resnet20", "pretrained": str(tmp_path / "w.pth")}
    assert "a pickle file" in weights_error(resreg.create_model, spec)
    model = resreg.create_model({**spec, "pretrained_allow_pickle": True})
    assert torch.equal(logits(model), logits(resnet20))


def test_a_pickled_member_is_refused(resnet20, tmp_path):
    torch.save(resnet20.state_dict(), tmp_path / "member.pth")
    assert "a pickle file, and unpickling can run code" in weights_error(
        resreg.create_model, ensemble_of(str(tmp_path / "member.pth"))
    )


def test_push_refuses_a_pickle_before_reading_it(resnet20, tmp_path, cli):
    torch.save(resnet20.state_dict(), tmp_path / "weights.pth")
    result = cli("push", str(tmp_path / "weights.pth"), "me/model")
    assert result.status == 2 and "a pickle file, and unpickling can run code" in result.err


def test_pickles_are_read_weights_only_even_where_the_environment_turns_that_off(resnet20, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's switch for loads that do not say
    marker = tmp_path / "code-ran"
    torch.save({"conv1.weight": RunsCodeWhenUnpickled(marker)}, tmp_path / "evil.pth")
    message = weights_error(load_pretrained, resreg.create_model("resnet20"), tmp_path / "evil.pth", allow_pickle=True)
    assert message.startswith(f"{tmp_path / 'evil.pth'}: cannot be read as a weights-only state dict (Weights only ")
    assert not marker.exists()


def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu(resnet20, tmp_path, monkeypatch):
    with monkeypatch.context() as gpu:  # torch.save records each tensor's device: "cuda:0" as on a GPU
        gpu.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(resnet20.state_dict(), tmp_path / "gpu.pth")
    model = resreg.create_model("resnet20")
    load_pretrained(model, tmp_path / "gpu.pth", allow_pickle=True)
    assert torch.equal(logits(model), logits(resnet20)) and model.conv1.weight.device.type == "cpu"


@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_a_training_checkpoint_gives_the_state_dict_it_keeps_under_state_dict_or_model(resnet20, tmp_path, key):
    torch.save({"epoch": 3, key: resnet20.state_dict()}, tmp_path / "ckpt.pth")
    model = resreg.create_model("resnet20")
    load_pretrained(model, tmp_path / "ckpt.pth", allow_pickle=True)
    assert torch.equal(logits(model), logits(resnet20))


@pytest.mark.parametrize("content", [[torch.zeros(1)], {"state_dict": {"epoch": 3}}], ids=["list", "nested"])
def test_a_pickle_without_a_state_dict_is_named(tmp_path, content):
    torch.save(content, tmp_path / "ckpt.pth")
    message = weights_error(load_pretrained, resreg.create_model("resnet20"), tmp_path / "ckpt.pth", allow_pickle=True)
    assert message == (
        f"{tmp_path / 'ckpt.pth'}: holds no state dict (a mapping of names to tensors, or one under 'state_dict')"
    )


def test_a_pickle_that_does_not_fit_is_named_by_its_path(resnet20, tmp_path):
    torch.save(resnet20.state_dict(), tmp_path / "w.pth")
    message = weights_error(load_pretrained, resreg.create_model("resnet32"), tmp_path / "w.pth", allow_pickle=True)
    assert message.startswith(f"{tmp_path / 'w.pth'}: weights do not fit the model")


def test_an_unreadable_pickle_gives_the_first_line_of_the_reason_or_its_kind(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")  # torch.load raises EOFError with no message
    message = weights_error(load_pretrained, resreg.create_model("resnet20"), tmp_path / "empty.pth", allow_pickle=True)
    assert message == f"{tmp_path / 'empty.pth'}: cannot be read as a weights-only state dict (EOFError)"
    (tmp_path / "torn.pth").write_bytes(b"PK\x03\x04 a torn zip")
    message = weights_error(load_pretrained, resreg.create_model("resnet20"), tmp_path / "torn.pth", allow_pickle=True)
    assert message.startswith(f"{tmp_path / 'torn.pth'}: cannot be read as a weights-only state dict (Pytorch")
    assert "\n" not in message


# --- create_model's options and overrides -------------------------------------------------------------------
def test_a_model_named_by_its_folder_takes_no_other_weight_source(resnet20, tmp_path):
    save(resnet20, tmp_path / MODEL_FILE)
    with pytest.raises(ConfigError) as error:
        resreg.create_model(f"local-dir:{tmp_path}", pretrained="other.safetensors")
    assert str(error.value) == (
        f"local-dir:{tmp_path}: brings its own weights; pretrained= takes True or False here, not another source "
        "('other.safetensors')"
    )


def test_a_specs_skip_classifier_loads_all_but_the_classifier_and_the_model_records_its_source(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / MODEL_FILE)
    torch.manual_seed(3)
    model = resreg.create_model({"preset": "resnet20", "num_classes": 7, "pretrained": str(saved),
                                 "pretrained_skip_classifier": True})  # fmt: skip
    assert torch.equal(model.conv1.weight, resnet20.conv1.weight) and model.fc.weight.shape[0] == 7
    assert model.resreg_pretrained == {"source": str(saved), "commit": None}


def test_overrides_on_a_source_whose_spec_is_far_bigger_than_its_tensors_are_refused_first(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / MODEL_FILE)
    big = {"preset": "resnet18", "num_classes": 10}  # 11M weight values, against resnet20's 0.27M
    with_header(saved, **{SPEC_KEY: json.dumps(big)})
    named = f"local-dir:{tmp_path}"
    message = weights_error(resreg.create_model, named, num_classes=5, pretrained_skip_classifier=True)
    assert message.startswith(f"{saved}: the model spec describes ")
    assert message.endswith("the spec and the weights do not belong together")


def test_an_override_the_builder_refuses_is_named_by_the_source(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / MODEL_FILE)
    with pytest.raises(ConfigError) as error:
        resreg.create_model(f"local-dir:{tmp_path}", shortcut="Z")
    assert str(error.value) == f"{saved}: model.shortcut: unknown shortcut 'Z' (known: A, B, C, D, none)"


def test_a_class_count_that_differs_is_named_by_the_source(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / MODEL_FILE)
    message = weights_error(resreg.create_model, "resnet20", num_classes=7, pretrained=str(saved))
    assert message.startswith(f"{saved}: the weights have 10 classes and the model 7 (fc.weight)")


def test_a_failing_converter_is_named_with_the_source_it_was_converting(resnet20, tmp_path):
    saved = save(resnet20, tmp_path / MODEL_FILE)
    registry = Registry()
    registry.register("converter", "broken", lambda state: 1 / 0, provider=Provider("broken", "broken-dist"))
    message = weights_error(load_pretrained, resreg.create_model("resnet20"), saved, registry=registry)
    assert message == (
        f"{saved}: converter 'broken' of plugin 'broken' (broken-dist) failed: ZeroDivisionError: division by zero"
    )


# --- ensemble members ---------------------------------------------------------------------------------------
def ensemble_of(*members: object) -> dict[str, object]:
    return {"type": "ensemble", "members": list(members)}


def test_a_callers_member_name_is_a_folder_of_that_name_if_one_exists_else_the_preset(resnet20, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset = resreg.create_model(ensemble_of("resnet20")).members[0]
    assert preset.resreg_spec == resnet20.resreg_spec and not hasattr(preset, "resreg_pretrained")
    save(resnet20, tmp_path / "resnet20" / MODEL_FILE)
    member = resreg.create_model(ensemble_of("resnet20")).members[0]
    assert torch.equal(logits(member), logits(resnet20))


def test_a_member_name_in_a_file_is_the_preset_never_a_folder_of_that_name(resnet20, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(resnet20, tmp_path / "resnet20" / MODEL_FILE)  # what data must not make resreg read
    torch.manual_seed(1)
    ensemble = resreg.create_model(ensemble_of("resnet20"))
    by_name = {**ensemble.resreg_spec, "members": ["resnet20"]}  # as a hand-written resreg.yaml may say
    saved = with_header(save_model(ensemble, tmp_path / "ensemble.safetensors"), **{SPEC_KEY: json.dumps(by_name)})
    assert torch.equal(logits(load_model(saved).members[0]), logits(ensemble.members[0]))


def test_a_member_of_no_known_kind_and_a_broken_member_file_are_named_by_their_place(tmp_path):
    with pytest.raises(ConfigError) as error:
        resreg.create_model(ensemble_of(42))
    assert str(error.value) == "model.members.0: a member is a preset, a spec, a path or hf-hub:owner/name, got 42"
    (tmp_path / "torn.safetensors").write_bytes(b"\xff" * 64)
    message = weights_error(resreg.create_model, ensemble_of(str(tmp_path / "torn.safetensors")))
    assert f"members.0: {tmp_path / 'torn.safetensors'}: not a valid safetensors file" in message


# --- a recorded component whose plugin is missing, disabled or broken ---------------------------------------
RECORD = {"kind": "block", "name": "se_basic", "distribution": "resreg-se", "version": "0.2.0"}


def plugin(name: str, distribution: str, status: str, error: str = "") -> PluginInfo:
    return PluginInfo(name, distribution, "0.2.0", f"{name}_module", status=status, error=error)


def component_error(record: dict[str, str], plugins: list[PluginInfo]) -> str:
    with pytest.raises(RegistryError) as error:
        require_components([record], Registry(), plugins, where="w.safetensors")
    return str(error.value)


@pytest.mark.parametrize("version", ["?", ""])
def test_a_component_recorded_without_a_version_names_only_its_distribution(version):
    message = component_error({**RECORD, "version": version}, [])
    assert message.endswith("the model says it comes from the distribution 'resreg-se': pip install resreg-se")


def test_a_disabled_plugin_is_found_by_its_distribution_name_spelt_either_way():
    record = {**RECORD, "distribution": "Resreg_SE"}  # pip's names: case, '_', '.' and '-' are one
    assert component_error(record, [plugin("se", "resreg.se", "disabled")]) == (
        f"w.safetensors: block 'se_basic' is provided by plugin 'se' (Resreg_SE), which is disabled ({DISABLE_ENV}); "
        f"remove it from {DISABLE_ENV}"
    )


def test_every_plugin_of_the_distribution_is_named_and_a_failed_one_gives_its_error():
    both = [plugin("se", "resreg-se", "disabled"), plugin("se_extra", "resreg-se", "disabled")]
    assert "provided by plugin 'se' or 'se_extra' (resreg-se), which is disabled" in component_error(RECORD, both)
    failed = [plugin("se", "resreg-se", "failed", "ImportError: no module named 'squeeze'"),
              plugin("se_extra", "resreg-se", "failed", "SyntaxError")]  # fmt: skip
    assert component_error(RECORD, failed) == (
        "w.safetensors: block 'se_basic' is provided by plugin 'se' or 'se_extra' (resreg-se), which failed to load: "
        "ImportError: no module named 'squeeze' (see resreg plugins)"
    )


def test_a_failed_plugin_beside_a_disabled_one_gives_the_failed_ones_error():
    mixed = [plugin("se", "resreg-se", "disabled"), plugin("se_extra", "resreg-se", "failed", "SyntaxError: line 3")]
    assert component_error(RECORD, mixed).endswith("which failed to load: SyntaxError: line 3 (see resreg plugins)")


# --- a Hub repo, read from the cache (HF_HUB_OFFLINE) ------------------------------------------------------
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An offline Hub cache in huggingface_hub's layout; returns the folder of the snapshot of me/r20 at SHA.

    huggingface_hub reads HF_HUB_OFFLINE and HF_HUB_CACHE when it is imported, so they are set on its
    constants, as its own tests do."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--me--r20"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    return repo / "snapshots" / SHA


def test_a_hub_repo_is_named_by_its_commit_and_its_files_by_the_repo_not_the_cache(resnet20, hub_cache):
    write_repo(hub_cache, resnet20, labels=LABELS)
    model = load_model("hf-hub:me/r20")
    assert model.resreg_pretrained == {"source": "hf-hub:me/r20", "commit": SHA} and model.label_names == LABELS
    assert torch.equal(logits(model), logits(resnet20))
    edit(hub_cache / RESREG_FILE, spec={**resnet20.resreg_spec, "shortcut": "Z"})
    with pytest.raises(ConfigError) as error:
        load_model("hf-hub:me/r20")
    assert str(error.value).startswith(f"hf-hub:me/r20@{SHA}/{RESREG_FILE}: model.shortcut: unknown shortcut 'Z'")
    (hub_cache / RESREG_FILE).unlink()  # the spec in the weights' header: that file is named
    with_header(hub_cache / MODEL_FILE, **{SPEC_KEY: json.dumps({**resnet20.resreg_spec, "shortcut": "Z"})})
    with pytest.raises(ConfigError) as error:
        load_model("hf-hub:me/r20")
    assert str(error.value).startswith(f"hf-hub:me/r20@{SHA}/{MODEL_FILE}: model.shortcut: unknown shortcut 'Z'")


def test_a_hub_repo_whose_weights_do_not_fit_is_named_by_the_repo_at_its_commit(resnet20, hub_cache):
    write_repo(hub_cache, resnet20, labels=LABELS)
    message = weights_error(load_pretrained, resreg.create_model("resnet32"), "hf-hub:me/r20")
    assert message.startswith(f"hf-hub:me/r20@{SHA}: weights do not fit the model")


def test_a_hub_repo_of_pytorch_model_bin_loads_only_when_pickles_are_allowed(resnet20, hub_cache):
    timm_pickle_folder(hub_cache, resnet20, resnet20.state_dict())
    assert "a pickle file, and unpickling can run code" in weights_error(load_model, "hf-hub:me/r20")
    assert torch.equal(logits(load_model("hf-hub:me/r20", allow_pickle=True)), logits(resnet20))
