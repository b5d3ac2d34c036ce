"""The config loader's messages and edge cases, word for word: what mutation testing (docs/testing.md) found
unchecked by tests/test_config.py. YAML's own error (line, column, problem) is the reference for parse errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from resreg.config.loader import apply_overrides, find_config, load_config, resolve_interpolations
from resreg.errors import ConfigError
from resreg.yaml_file import parse_yaml


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


# --- limits: a config is data from outside (issue 22 item 7) ------------------------------------------
def _billion_laughs(levels: int = 9) -> str:
    """Each level a list of 9 aliases of the one below: 9**levels strings from a few hundred bytes."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_config_fails_fast_in_one_line(tmp_path: Path, cli):
    path = tmp_path / "laughs.yaml"
    path.write_text("model: resnet20\n" + _billion_laughs())
    started = time.monotonic()
    result = cli("show", str(path))
    assert time.monotonic() - started < 5  # the expansion is counted on the parsed nodes, never built
    assert result.status == 2 and result.err.count("\n") == 1, result.err
    assert f"{path.resolve()}: YAML aliases expand it past 100,000 values" in result.err
    base = tmp_path / "uses_it.yaml"  # through base: as well
    base.write_text("base: laughs.yaml\n")
    assert "YAML aliases expand it past 100,000 values" in message(load_config, base)


def test_a_config_over_1_mib_is_refused_from_its_size_before_parsing(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:  # 50 MB on disk (sparse: the test writes 12 bytes)
        file.write(b"model: r20\n")
        file.truncate(50_000_000)
    assert message(load_config, path) == (
        f"{path.resolve()}: 50,000,000 bytes is over the 1,048,576 bytes (1 MiB) resreg reads from a YAML file; "
        "a config or resreg.yaml is a few KiB"
    )


def test_a_document_that_contains_itself_or_nests_too_deep_is_one_line(tmp_path: Path):
    looped, deep = tmp_path / "loop.yaml", tmp_path / "deep.yaml"
    looped.write_text("model: &m {inner: *m}\n")
    deep.write_text("model: " + "[" * 5000 + "]" * 5000 + "\n")
    assert (
        message(load_config, looped)
        == f"{looped.resolve()}: YAML anchor contains an alias of itself (a document without end)"
    )
    assert message(load_config, deep).endswith(": YAML nested too deep to read (lists or mappings inside each other)")


def test_anchors_within_the_limit_still_work(tmp_path: Path):
    path = tmp_path / "anchors.yaml"
    path.write_text("shared: &opt {type: sgd, lr: 0.1}\ntrain:\n  optimizer:\n    <<: *opt\n    lr: 0.05\n")
    config = load_config(path)
    assert config["train"]["optimizer"] == {"type": "sgd", "lr": 0.05} and config["shared"]["lr"] == 0.1
    hundred = "row: &row [" + ", ".join(["1"] * 99) + "]\n"  # 100 nodes: the list and its values
    within, over = (hundred + "rows: [" + ", ".join(["*row"] * n) + "]\n" for n in (990, 1000))
    assert len(parse_yaml(within, "within")["rows"]) == 990  # 99,000 values and a few more: read
    with pytest.raises(ConfigError, match="over: YAML aliases expand it past 100,000 values"):
        parse_yaml(over, "over")
