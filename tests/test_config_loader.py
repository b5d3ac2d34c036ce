"""The config loader's messages and edge cases, word for word: what mutation testing (docs/testing.md) found
unchecked by tests/test_config.py. YAML's own error (line, column, problem) is the reference for parse errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resreg.config.loader import apply_overrides, find_config, load_config, resolve_interpolations
from resreg.errors import ConfigError


def message(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return str(info.value)


def test_a_missing_yaml_file_is_named_with_the_folder_it_was_relative_to(tmp_path: Path):
    assert message(find_config, tmp_path / "x.yml") == f"config file not found: {tmp_path / 'x.yml'}"
    assert message(find_config, str(tmp_path / "x")) == f"config file not found: {tmp_path / 'x'}"  # its folder exists
    assert message(find_config, "b.yaml", tmp_path) == f"config file not found: b.yaml (relative to {tmp_path})"


def test_invalid_yaml_names_the_file_line_column_and_yamls_problem(tmp_path: Path):
    text = "model: resnet20\ntrain: [1, 2\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(yaml.YAMLError) as reference:
        yaml.safe_load(text)
    mark, problem = reference.value.problem_mark, reference.value.problem
    expected = f"{path.resolve()}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}"
    assert message(load_config, path) == expected


def test_an_unreadable_file_and_an_empty_one(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert message(load_config, path).startswith(f"{path.resolve()}: cannot read: ")
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml") == {}
    (tmp_path / "utf8.yaml").write_text("name: café\n", encoding="utf-8")
    assert load_config(tmp_path / "utf8.yaml") == {"name": "café"}


@pytest.mark.parametrize("key", ["_target_", "_partial_", "_callable_"])
def test_code_keys_are_refused_wherever_they_are_and_the_file_is_named(tmp_path: Path, key: str):
    path = tmp_path / "code.yaml"
    path.write_text(f"model:\n  blocks:\n    - {{{key}: os.system}}\n")
    assert message(load_config, path) == (
        f"{path.resolve()}: {key!r} is not allowed: resreg configs are data and never import code"
    )
    assert message(apply_overrides, {}, [f"model.{key}=x"]).startswith(f"override 'model.{key}=x': {key!r}")


def test_override_values_keep_their_equals_signs_and_may_be_empty():
    assert apply_overrides({}, ["name=a=b", "train.note="]) == {"name": "a=b", "train": {"note": ""}}


def test_override_errors_name_the_override_and_yamls_problem():
    with pytest.raises(yaml.YAMLError) as reference:
        yaml.safe_load("[1, 2")
    assert message(apply_overrides, {}, ["train.lr=[1, 2"]) == (
        f"override 'train.lr=[1, 2': value is not valid YAML: {reference.value.problem}"
    )
    assert message(apply_overrides, {"a": {"b": 1}}, ["a.b.c.d=2"]) == "override 'a.b.c.d=2': a.b is 1, not a mapping"


def test_a_type_override_replaces_the_section_only_when_the_type_changes():
    config = {"data": {"type": "synthetic", "num_images": 8}}
    assert apply_overrides(config, ["data.type=synthetic"]) == config
    assert apply_overrides(config, ["data.type=cifar10"]) == {"data": {"type": "cifar10"}}
    assert apply_overrides({"type": "a", "x": 1}, ["type=b"]) == {"type": "b", "x": 1}  # a top-level key: no section
    assert apply_overrides({"data": {"num_images": 8}}, ["data.type=mnist"]) == {
        "data": {"num_images": 8, "type": "mnist"}
    }


def test_interpolation_errors_name_the_source_and_key(tmp_path: Path):
    text = message(resolve_interpolations, {"train": {"lr": "${nowhere}"}}, "run.yaml")
    assert text.startswith("run.yaml: train.lr: ") and "nowhere" in text
    path = tmp_path / "i.yaml"
    path.write_text("train: {lr: '${nowhere}'}\n")
    assert message(load_config, path).startswith(f"{path}: train.lr: ")


def test_yaml_errors_without_a_position_or_problem(tmp_path: Path):
    """A control character is a reader error: YAML gives no line, column or `problem` for it."""
    assert message(find_config, "nowhere.yml") == "config file not found: nowhere.yml"
    text = "name: a\x07b\n"
    with pytest.raises(yaml.YAMLError) as reference:
        yaml.safe_load(text)
    assert not hasattr(reference.value, "problem_mark") and not hasattr(reference.value, "problem")
    path = tmp_path / "bell.yaml"
    path.write_text(text)
    assert message(load_config, path) == f"{path.resolve()}: invalid YAML: {str(reference.value).splitlines()[0]}"
    expected = "override 'name=a\\x07b': value is not valid YAML: invalid YAML"
    assert message(apply_overrides, {}, ["name=a\x07b"]) == expected
