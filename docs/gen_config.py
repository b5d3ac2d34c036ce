"""The configuration reference page: every section of a config and every registered component's parameters.

Read from the registry (`resreg.plugins.get_registry()`: the built-ins and every installed plugin) and
from the schemas the validator itself uses, so the page says exactly what `resreg train` accepts.
"""

from __future__ import annotations

import dataclasses
import html
import json
from typing import Any

import yaml

from resreg.config.options import EngineOptions, EvalOptions
from resreg.config.validate import SECTIONS
from resreg.models import weights_options
from resreg.plugins import get_registry
from resreg.recipe import AugmentSection, Recipe, ScheduleSection
from resreg.registry import Entry
from resreg.schema import Param, params_of

#: what each top-level section holds (the registry kind it names, if any)
SECTION_HELP = {
    "name": "the run's name: the run directory is `runs/<name>` (default: the config file's name).",
    "model": "a preset name, `{preset: NAME, ...overrides}`, or `{type: BUILDER, ...}`; see [builders](#builders).",
    "data": "a [dataset](#datasets) spec: `{type: fashion_mnist, ...}`.",
    "train": "a [recipe](#recipes) preset and its changes: `{preset: cifar_resnet, lr: 0.05, schedule: {...}}`.",
    "engine": "how the loop runs (device, precision, checkpoints, ...); see [engine options](#engine-options).",
    "eval": "how evaluation runs; see [eval options](#eval-options).",
}
#: kinds documented elsewhere: model presets are the model zoo
SKIP_KINDS = {"model"}


def page() -> str:
    registry = get_registry()
    lines = [
        "# Configuration reference",
        "",
        "*Generated from the registry when this site was built: resreg's built-in plugins plus any installed*",
        "*plugin. `resreg list KIND -v` prints the same from your own environment.*",
        "",
        "A config is YAML with the sections below. `base: FILE` (or a list of files) is merged first;",
        "`KEY=VALUE` overrides on the command line are applied last (`train.lr=0.05`, `model.depths=[2,2,2]`).",
        "A component is named by `type:`, and every other key of its mapping is one of its parameters:",
        "",
        "```yaml",
        "model: {type: resnet, block: {type: bottleneck, groups: 32, base_width: 4}, depths: [3, 4, 6, 3]}",
        "```",
        "",
        "| section | what it holds |",
        "|---|---|",
        *(f"| `{s}` | {SECTION_HELP.get(s, '')} |" for s in SECTIONS),
        "",
        "## Engine options",
        "",
        "The `engine:` section.",
        "",
        *_table(params_of(EngineOptions), EngineOptions),
        "",
        "## Eval options",
        "",
        "The `eval:` section.",
        "",
        *_table(params_of(EvalOptions), EvalOptions),
        "",
        "## Weights keys of `model:`",
        "",
        "Beside the builder's parameters, a `model:` section may say where its weights come from.",
        "",
        *_table(params_of(weights_options), None),
    ]
    for kind, help in registry.kinds.items():
        if kind in SKIP_KINDS:
            continue
        entries = registry.entries(kind)
        lines += ["", f"## {kind.capitalize()}s", "", f"Registry kind `{kind}`: {_md(help)}."]
        if kind == "recipe":
            lines += _recipe_values()
        if not entries:
            lines += ["", "None registered."]
        for entry in entries:
            lines += ["", *_entry(entry)]
    lines.append("")
    return "\n".join(lines)


def _recipe_values() -> list[str]:
    """The values a `train:` section sets (one recipe type); the presets below set them to a paper's."""
    lines = ["", "A `train:` section names a preset (`preset: cifar_resnet`) and changes any of these values."]
    for where, owner in (("train", Recipe), ("train.schedule", ScheduleSection), ("train.augment", AugmentSection)):
        params = {k: p for k, p in params_of(owner).items() if k not in ("schedule", "augment")}
        lines += ["", f"`{where}`:", "", *_table(params, owner)]
    return lines


def _entry(entry: Entry) -> list[str]:
    source = entry.plugin if entry.distribution in ("?", entry.plugin) else f"{entry.plugin} ({entry.distribution})"
    lines = [f"### `{entry.name}`", "", f"{_md(entry.help)} *Plugin: {source}.*"]
    if entry.kind == "recipe" and isinstance(entry.obj, dict):
        paper = (entry.obj.get("meta") or {}).get("paper")
        values = {k: v for k, v in entry.obj.items() if k not in ("help", "meta")}
        text = yaml.safe_dump(values, sort_keys=False, default_flow_style=None, width=100).strip()
        return [*lines, *(["", f"Paper: {_md(paper)}."] if paper else []), "", "```yaml", text, "```"]
    if entry.params:
        lines += ["", *_table(entry.params, entry.obj)]
    elif entry.open_keywords:
        lines += ["", "Takes any keyword argument."]
    return lines


def _table(params: dict[str, Param], owner: Any) -> list[str]:
    if not params:
        return ["No parameters."]
    rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
    for param in params.values():
        rows.append(
            f"| `{param.name}` | {_md(param.type_name())} | {_md(_default(owner, param))} | {_md(param.help)} |"
        )
    return rows


def _default(owner: Any, param: Param) -> str:
    """The default as it would be written in a config (JSON is YAML): `[2, 2]`, `null`, `false`, `"avg"`.

    A dataclass field's `default_factory` is called, so recipes show their milestones, not `<factory>`.
    """
    if param.required:
        return "(required)"
    value = param.default
    if dataclasses.is_dataclass(owner):
        for field in dataclasses.fields(owner):
            if field.name == param.name and field.default_factory is not dataclasses.MISSING:
                value = field.default_factory()
    try:
        return json.dumps(value)
    except TypeError:  # not plain data (a module, a callable): show it as Python does
        return repr(value)


def _md(text: str) -> str:
    """Plain text safe in a Markdown table cell: no HTML, no emphasis, no column breaks (backticks stay code)."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("*", "\\*")
