"""Ensembles as models: `{type: ensemble, members: [...], combiner: mean_probs}`.

A member is any model source:
    resnet20                               a preset (fresh weights)
    {preset: resnet110, pretrained: ...}   a spec, with weights from any `pretrained:` source
    runs/resnet110                         a run directory (its model.safetensors)
    path/to/model.safetensors              a saved model
    hf-hub:owner/name[@rev]                a Hub repo
    {model: <any of the above>, input_size: [224, 224]}   with the member's own input size

Members may differ in architecture and input size: the ensemble resizes the input for a member
that asks for another size. Once built, the ensemble's spec inlines every member's spec, so saving
it writes one file (all members' weights under `members.<i>.`) that rebuilds without the sources.
A spec read from such a file (or a repo) is untrusted: its members must be inline specs, never
paths, run dirs or repos (see `resreg.trust`); the `BuildContext` the builder is handed says which,
and `context.member` enforces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resreg.errors import ConfigError
from resreg.models import BuildContext
from resreg.schema import ref


class Ensemble(nn.Module):
    """Members whose outputs a combiner turns into one; `forward_members` gives each member's logits."""

    def __init__(self, members: list[nn.Module], input_sizes: list[tuple[int, int] | None], combine: Any) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.input_sizes = input_sizes
        self.combine = combine
        self.num_classes = members[0].num_classes
        first = members[0].pretrained_cfg
        self.pretrained_cfg = {**first, "first_conv": None, "classifier": None}
        # The class names and per-pixel mean image the members share (the snapshots of one run do), so
        # the ensemble prepares images and names classes as they do: in predict, and in a saved file.
        for name in ("label_names", "resreg_mean_image"):
            shared = _shared([getattr(m, name, None) for m in members])
            if shared is not None:
                setattr(self, name, shared)

    def forward_members(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for member, size in zip(self.members, self.input_sizes, strict=True):
            inputs = x if size is None or tuple(x.shape[-2:]) == size else F.interpolate(
                x, size=size, mode="bilinear", antialias=True, align_corners=False
            )  # fmt: skip
            outputs.append(member(inputs))
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(self.forward_members(x))


def _shared(values: list[Any]) -> Any:
    """The value every member has (lists, tensors), or None when one lacks it or they differ."""
    first = values[0]
    if any(v is None for v in values):
        return None
    if isinstance(first, torch.Tensor):
        agree = all(isinstance(v, torch.Tensor) and torch.equal(first, v) for v in values)
    else:
        agree = all(v == first for v in values)
    return first if agree else None


def _member_source(entry: Any, where: str) -> tuple[Any, tuple[int, int] | None]:
    """Split a member entry into (model source, input size)."""
    if isinstance(entry, Mapping) and "model" in entry:
        extra = set(entry) - {"model", "input_size"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {sorted(extra)} (valid: model, input_size)")
        size = entry.get("input_size")
        if size is not None and (
            not isinstance(size, (list, tuple)) or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)
        ):
            raise ConfigError(f"{where}.input_size: expected [height, width], got {size!r}")
        return entry["model"], (tuple(size) if size is not None else None)
    return entry, None


def ensemble(
    context: BuildContext,
    /,
    *,
    members: list[Any],
    combiner: ref("combiner") = "mean_probs",
    num_classes: int | None = None,
    in_chans: int | None = None,
) -> Ensemble:
    """Several models as one: each member's output, combined (He et al. 2015: 3.57% top-5 from six).

    Args:
        members: the member models: presets, specs, run directories, saved files or hf-hub: repos.
        combiner: how outputs combine: mean_probs, mean_logits, weighted, majority_vote.
        num_classes: checked against every member (an ensemble cannot change its members' classes).
        in_chans: checked against every member.
    """
    if not isinstance(members, list) or not members:
        raise ConfigError("members: an ensemble needs a non-empty list of members")
    combine = context.registry.build("combiner", combiner, where="combiner")
    built, sizes = [], []
    for i, entry in enumerate(members):
        source, size = _member_source(entry, f"members.{i}")
        built.append(context.member(source, f"members.{i}"))  # trusted or not, as the ensemble's own spec
        sizes.append(size)
    classes = [getattr(m, "num_classes", None) for m in built]
    if len(set(classes)) != 1:
        listing = ", ".join(f"members.{i}: {c}" for i, c in enumerate(classes))
        raise ConfigError(f"members: every member must predict the same classes, got class counts {listing}")
    if num_classes is not None and num_classes != classes[0]:
        raise ConfigError(f"num_classes: the members predict {classes[0]} classes, not {num_classes}")
    chans = {m.pretrained_cfg["input_size"][0] for m in built}
    if len(chans) != 1 or (in_chans is not None and in_chans not in chans):
        raise ConfigError(f"in_chans: members take {sorted(chans)} input channels; they must agree (asked {in_chans})")
    model = Ensemble(built, sizes, combine)
    model.resreg_spec = {
        "type": "ensemble",
        "members": [m.resreg_spec if s is None else {"model": m.resreg_spec, "input_size": list(s)}
                    for m, s in zip(built, sizes, strict=True)],
        "combiner": combiner,
    }  # fmt: skip
    return model
