"""Config loading: base inheritance, deep merge, replace, dotlist overrides, interpolation, refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from resreg.config import find_config, list_shipped_configs, load_config
from resreg.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_bases_merge_in_order_relative_to_the_file(tmp_path):
    write(tmp_path / "parts/_a.yaml", "train: {lr: 0.1, milestones: [1, 2, 3], optimizer: {type: sgd, momentum: 0.9}}")
    write(tmp_path / "parts/_b.yaml", "train: {lr: 0.2}\nmodel: resnet20")
    cfg = write(
        tmp_path / "parts/run.yaml",
        """
        base: [_a.yaml, _b.yaml]
        train:
          milestones: [5]
          optimizer: {nesterov: true}
        """,
    )
    config = load_config(cfg)
    assert config == {
        "train": {"lr": 0.2, "milestones": [5], "optimizer": {"type": "sgd", "momentum": 0.9, "nesterov": True}},
        "model": {"preset": "resnet20"},  # the shorthand, expanded so overrides can merge into it
    }


def test_replace_marker_replaces_a_mapping_instead_of_merging(tmp_path):
    write(tmp_path / "_base.yaml", "train: {optimizer: {type: sgd, momentum: 0.9}}")
    cfg = write(tmp_path / "run.yaml", "base: _base.yaml\ntrain: {optimizer: {_replace_: true, type: adam}}")
    assert load_config(cfg) == {"train": {"optimizer": {"type": "adam"}}}


def test_base_cycle_is_reported(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml")
    write(tmp_path / "b.yaml", "base: a.yaml")
    with pytest.raises(ConfigError, match=r"base: cycle a\.yaml -> b\.yaml -> a\.yaml"):
        load_config(tmp_path / "a.yaml")


def test_overrides_parse_yaml_values_merge_mappings_and_replace_the_rest(tmp_path):
    cfg = write(tmp_path / "run.yaml", "model: {preset: resnet20, block: {type: basic, zero_init_last: true}}\n")
    config = load_config(
        cfg,
        ["train.lr=0.05", "model.depths=[2,2,2]", "model.block=bottleneck", "train.opt={type: sgd}", "data.root=null"],
    )
    assert config["train"] == {"lr": 0.05, "opt": {"type": "sgd"}}
    assert config["model"] == {"preset": "resnet20", "block": "bottleneck", "depths": [2, 2, 2]}
    assert config["data"] == {"root": None}


def test_override_into_mapping_merges(tmp_path):
    cfg = write(tmp_path / "run.yaml", "train: {optimizer: {type: sgd, momentum: 0.9}}")
    config = load_config(cfg, ["train.optimizer={nesterov: true}"])
    assert config["train"]["optimizer"] == {"type": "sgd", "momentum": 0.9, "nesterov": True}


def test_interpolation_resolves(tmp_path):
    cfg = write(tmp_path / "run.yaml", "train: {iterations: 64000, milestones: ['${train.iterations}']}\nname: x")
    assert load_config(cfg, ["train.iterations=10"])["train"]["milestones"] == [10]


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("model: [1, 2\n", [], r"run\.yaml:2:1: invalid YAML"),
        ("- a\n- b\n", [], "a config is a mapping of sections, got list"),
        ("base: 3\n", [], "base: must be a file name or a list of them"),
        ("base: missing.yaml\n", [], "config file not found: missing.yaml"),
        ("model: {_target_: os.system}\n", [], "'_target_' is not allowed: resreg configs are data"),
        ("train: {a: '${nope}'}\n", [], r"train\.a: Interpolation key 'nope' not found"),
        ("train: 3\n", ["train.lr=1"], "override 'train.lr=1': train is 3, not a mapping"),
        ("{}", ["train.lr"], "override 'train.lr' is not KEY=VALUE"),
        ("{}", ["train..lr=1"], "is not KEY=VALUE"),
        ("{}", ["train.lr=[1,"], "value is not valid YAML"),
        ("{}", ["model._target_=os.system"], "'_target_' is not allowed"),
    ],
)
def test_bad_input_is_one_clear_config_error(tmp_path, text, overrides, expected):
    cfg = write(tmp_path / "run.yaml", text)
    with pytest.raises(ConfigError, match=expected) as err:
        load_config(cfg, overrides)
    assert "\n" not in str(err.value)


def test_shipped_configs_are_found_by_name_and_misses_suggest():
    names = list_shipped_configs()
    assert names, "configs/ ships no runnable config"
    assert find_config(names[0]).is_file()
    assert not any(Path(n).name.startswith("_") for n in names)  # parts for base: are not runnable
    with pytest.raises(ConfigError, match="no config file 'quikstart' and unknown shipped config 'quikstart'"):
        find_config("quikstart")


def test_another_type_replaces_the_section_in_files_and_overrides(tmp_path):
    write(
        tmp_path / "_base.yaml",
        "data: {type: imagefolder, root: /no/imagenet, image_size: 224}\ntrain: {type: a, lr: 1}",
    )
    cfg = write(tmp_path / "run.yaml", "base: _base.yaml\ntrain: {type: b}")
    assert load_config(cfg)["train"] == {"type": "b"}  # another recipe: the old recipe's keys would not fit
    # synthetic data stands in for the data set it replaces: it records which, and keeps its image size
    stand_in = {"type": "synthetic", "like": "imagefolder", "image_size": 224}
    assert load_config(cfg, ["data.type=synthetic"])["data"] == stand_in
    assert load_config(cfg, ["data.type=synthetic", "data.num_images=64"])["data"] == stand_in | {"num_images": 64}
    assert load_config(cfg, ["data={type: synthetic, image_size: 64}"])["data"] == stand_in | {"image_size": 64}
    assert load_config(cfg, ["data=synthetic", "data.num_images=8"])["data"] == stand_in | {"num_images": 8}
    # the same type keeps what was there
    assert load_config(cfg, ["data.type=imagefolder"])["data"]["root"] == "/no/imagenet"


def test_replace_marker_in_a_command_line_override_replaces(tmp_path):
    cfg = write(
        tmp_path / "run.yaml", "data: {type: imagefolder, root: /no/imagenet}\ntrain: {opt: {type: sgd, m: 0.9}}"
    )
    config = load_config(
        cfg, ["data={_replace_: true, type: imagefolder, image_size: 64}", "train={opt: {_replace_: true, type: sgd}}"]
    )
    assert config["data"] == {"type": "imagefolder", "image_size": 64}
    assert config["train"] == {"opt": {"type": "sgd"}}


def test_config_dir_is_the_folder_of_the_file_that_says_it(tmp_path):
    write(tmp_path / "parts/_base.yaml", "data: {root: '${config_dir}/data'}")
    cfg = write(
        tmp_path / "run/run.yaml", "base: ../parts/_base.yaml\nmodel: {members: ['${config_dir}/a.safetensors']}"
    )
    config = load_config(cfg)
    assert config["data"]["root"] == f"{(tmp_path / 'parts').resolve()}/data"  # the base's own folder
    assert config["model"]["members"] == [f"{(tmp_path / 'run').resolve()}/a.safetensors"]
