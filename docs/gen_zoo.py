"""The model zoo page: every registered preset with its parameters, MACs and the error its paper reports.

Parameters and MACs are counted by `resreg.summary.summarize` (torch.utils.flop_counter: multiply-adds
of convolutions and matmuls, what the papers call FLOPs) at the preset's own input size. Models are
built on the `meta` device: shapes only, no memory and no arithmetic, so even ResNet-1202 is counted
in seconds and nothing needs caching.
"""

from __future__ import annotations

import torch

import resreg
from resreg.plugins import get_registry
from resreg.registry import Entry
from resreg.summary import summarize

#: section titles for the `meta.dataset` of presets; others get their own name
DATASETS = {"imagenet": "ImageNet", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def page() -> str:
    registry = get_registry()
    by_dataset: dict[str, list[str]] = {}
    for entry in registry.entries("model"):
        dataset = str(_meta(entry).get("dataset", "other"))
        by_dataset.setdefault(dataset, []).append(_row(entry))
    lines = [
        "# Model zoo",
        "",
        "*Generated from the registry when this site was built: every model preset of resreg's built-in*",
        "*plugins and of any installed plugin.*",
        "",
        "**params** count every parameter; **MACs** are multiply-adds of one image at the preset's input size",
        "(`torch.utils.flop_counter`, convolutions and matmuls); **paper error** is the top-1 error in %",
        "that the paper reports for the architecture, under that paper's protocol (e.g. 10-crop testing for",
        "the ResNet ImageNet table). A preset is a spec: `resreg show` prints it, and",
        "`resreg.create_model(NAME, pretrained=...)` builds it. `resreg summary NAME` gives the per-stage",
        "breakdown.",
    ]
    order = [d for d in DATASETS if d in by_dataset] + sorted(d for d in by_dataset if d not in DATASETS)
    for dataset in order:
        lines += [
            "",
            f"## {DATASETS.get(dataset, dataset)}",
            "",
            "| model | description | input | params | MACs | paper error (%) | paper | plugin |",
            "|---|---|---|---:|---:|---:|---|---|",
            *by_dataset[dataset],
        ]
    lines.append("")
    return "\n".join(lines)


def _meta(entry: Entry) -> dict:
    meta = entry.obj.get("meta") if isinstance(entry.obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def _row(entry: Entry) -> str:
    with torch.device("meta"):
        model = resreg.create_model(entry.name)
        size = tuple(model.pretrained_cfg["input_size"])
        summary = summarize(model, size)
    meta = _meta(entry)
    error = meta.get("paper_error")
    cells = [
        f"`{entry.name}`",
        entry.help.replace("|", "\\|"),
        "x".join(str(s) for s in size),
        f"{summary.params / 1e6:.2f} M",
        _macs(summary.macs),
        "-" if error is None else f"{error:.2f}",
        str(meta.get("paper", "-")),
        entry.plugin if entry.distribution in ("?", entry.plugin) else f"{entry.plugin} ({entry.distribution})",
    ]
    return "| " + " | ".join(cells) + " |"


def _macs(macs: int) -> str:
    return f"{macs / 1e9:.2f} G" if macs >= 1e9 else f"{macs / 1e6:.1f} M"
