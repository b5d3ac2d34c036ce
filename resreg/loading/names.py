"""The one parser of model and weight source names; nothing else takes `hf-hub:` or `local-dir:` apart.

    hf-hub:owner/name[@revision]     a Hub repo (a branch, tag or commit sha; the default branch without one)
    local-dir:/path/to/folder        a folder, named as timm names one
    anything else                    a path: a .safetensors file, a folder, a run directory, a .pth pickle

Whether a plain name is a preset rather than a path is for the registry to say, not this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resreg.hub.client import HUB_PREFIX

LOCAL_PREFIX = "local-dir:"


@dataclass(frozen=True)
class SourceName:
    """A source name taken apart: a Hub repo reference (`owner/name[@revision]`) or a local path."""

    text: str  # as the caller wrote it
    hub_ref: str | None = None  # `owner/name[@revision]` for an hf-hub: name
    path: Path | None = None  # for anything else, `local-dir:` taken off and `~` expanded

    @property
    def located(self) -> bool:
        """Whether the name says where the model is (`hf-hub:`, `local-dir:`) rather than naming a preset."""
        return self.text.startswith((HUB_PREFIX, LOCAL_PREFIX))

    @property
    def repo_id(self) -> str | None:
        """`owner/name` of a Hub repo, without the revision."""
        return self.hub_ref.split("@", 1)[0] if self.hub_ref is not None else None


def parse_source(source: str | Path) -> SourceName:
    """`hf-hub:me/r20@v1` -> hub_ref `me/r20@v1`; `local-dir:~/w` or `~/w` -> path `/home/.../w`."""
    text = str(source)
    if text.startswith(HUB_PREFIX):
        return SourceName(text, hub_ref=text[len(HUB_PREFIX) :])
    return SourceName(text, path=Path(text.removeprefix(LOCAL_PREFIX)).expanduser())


def hub_name(repo_id: str, commit: str) -> str:
    """How messages and records name a repo read at a commit: `hf-hub:owner/name@sha`."""
    return f"{HUB_PREFIX}{repo_id}@{commit}"
