"""`resreg.yaml`, the record a resreg repo (or a pulled folder) keeps beside its weights: how it is written and read.

The names of a repo's files are in `resreg.layout`. A timm repo holds `config.json` instead; resreg reads both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resreg import __version__
from resreg.errors import WeightsError
from resreg.yaml_file import read_yaml


def resreg_record(
    spec: dict[str, Any],
    components: list[dict[str, str]],
    train_config: dict[str, Any] | None,
    pretrained_cfg: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of `resreg.yaml` for a model of `spec` built from `components` (see `provenance`);
    `pretrained_cfg` is its preprocessing and class names (`resreg.artifact.Preprocessing.to_json`)."""
    plugins = {c["distribution"]: c["version"] for c in components}
    record = {
        "resreg_version": __version__,
        "spec": spec,
        "plugins": dict(sorted(plugins.items())),
        "components": components,
        "train": train_config,
    }
    if pretrained_cfg is not None:
        record["pretrained_cfg"] = pretrained_cfg
    return record


def dump_resreg_yaml(record: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(record, sort_keys=False, default_flow_style=None)


def read_resreg_yaml(path: Path) -> dict[str, Any]:
    """A `resreg.yaml`, checked to hold a `spec:` mapping. Only YAML data is read, within limits (size,
    aliases: `resreg.yaml_file`), since it comes from a repo: nothing is imported."""
    record = read_yaml(path, error=WeightsError)
    if not isinstance(record, dict) or not isinstance(record.get("spec"), dict):
        raise WeightsError(f"{path}: has no 'spec:' mapping (is it a resreg repo?)")
    if not isinstance(record.get("components", []), list):
        raise WeightsError(f"{path}: 'components:' is not a list")
    return record
