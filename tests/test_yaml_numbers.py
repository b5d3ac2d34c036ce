"""Numbers in exponent form (`lr: 1e-4`, `train.lr=1e-4`) are floats wherever resreg reads YAML: config files,
overrides, sweep axes. PyYAML follows YAML 1.1, which reads `1e-4` as a string (it wants `1.0e-4`); OmegaConf and
JSON read it as the number, and so does resreg. OmegaConf's own YAML loader is the reference here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from resreg.cli.main import main
from resreg.yaml_file import parse_yaml, yaml_value

SPELLINGS = ["1e-4", "1E-4", "3e5", "1.0e4", "-2.5e-3", "+5e-05", "0.1", "10", "1_000", ".5", "1e", "e5", "abc"]


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_value_reads_as_omegaconf_reads_it(text: str) -> None:
    expected = OmegaConf.to_container(OmegaConf.create(f"value: {text}"))["value"]
    assert yaml_value(text) == expected and type(yaml_value(text)) is type(expected)
    assert parse_yaml(f"lr: {text}\n", "test")["lr"] == expected


def test_pyyaml_alone_reads_exponents_without_a_dot_as_strings() -> None:
    """Why resreg has its own loader: what users write in every training script would be refused."""
    assert yaml.safe_load("lr: 1e-4") == {"lr": "1e-4"}


def test_a_config_file_and_an_override_take_an_exponent_learning_rate(cli, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text("model: resnet20\ndata: {type: synthetic, num_images: 64, image_size: 16}\n"
                      "train: {preset: fast, lr: 1e-4, weight_decay: 5e-5}\n")  # fmt: skip
    shown = cli("show", str(config), "train.schedule.warmup_lr=2e-3")
    assert shown.status == 0, shown.err
    assert "  lr: 0.0001\n" in shown.out and "  weight_decay: 5.0e-05\n" in shown.out
    assert "warmup_lr: 0.002\n" in shown.out


def test_a_sweep_axis_reads_exponents_as_the_numbers_they_are(tmp_path: Path, capsys) -> None:
    """1e-4 and 0.0001 are one value: the sweep refuses the axis that names it twice."""
    status = main(["sweep", "quickstart", "train.lr=1e-4,0.0001", "--out", str(tmp_path / "out"), "--dry-run"])
    assert status == 2
    assert "train.lr=1e-4,0.0001': 1e-4 and 0.0001 are the same value; give each once" in capsys.readouterr().err
