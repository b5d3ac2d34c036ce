"""`resreg pull` and `hf-hub:` sources: download a repo's files through the Hub cache, pinned by commit sha.

Downloads go through `huggingface_hub.snapshot_download`, so they are cached (HF_HOME /
HF_HUB_CACHE), shared with timm and transformers, and served from the cache when HF_HUB_OFFLINE=1.
The snapshot folder is named by the commit sha it holds, which is what gets printed and recorded.
Only data files are fetched (see `PULL_PATTERNS`); nothing from a repo is imported or executed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from resreg.errors import ResregError
from resreg.hub.client import hub_errors, parse_repo_ref
from resreg.io import write_text_atomic
from resreg.layout import PICKLE_FILES, PULL_PATTERNS, PULLED_FILE
from resreg.registry import Registry


def download(ref: str, *, allow_pickle: bool = False) -> tuple[Path, str]:
    """Fetch the files of `owner/name[@revision]` into the cache; return (snapshot folder, commit sha)."""
    from huggingface_hub import constants, snapshot_download

    repo_id, revision = parse_repo_ref(ref)
    patterns = PULL_PATTERNS + (list(PICKLE_FILES) if allow_pickle else [])
    with hub_errors(f"hf-hub:{ref}"):
        # Each file's metadata request waits HF_HUB_ETAG_TIMEOUT seconds at most (snapshot_download's own
        # default ignores that variable); a refused connection or an unknown host fails at once (hub_errors).
        folder = Path(
            snapshot_download(
                repo_id, revision=revision, allow_patterns=patterns, etag_timeout=constants.HF_HUB_ETAG_TIMEOUT
            )
        )
    return folder, folder.name


def pull(ref: str, *, to: Path | None = None, registry: Registry | None = None) -> tuple[Path, str]:
    """Download a resreg (or timm) repo, prove it rebuilds here, and optionally copy it to `to`.

    The model is rebuilt from the repo and its weights loaded strictly, so a corrupt file, weights
    that do not fit the spec, or a component that no installed plugin provides (named, with the
    distribution to install) fail now rather than at first use. Returns the folder with the files
    and the commit sha.
    """
    from resreg.weights.safetensors_io import load_model

    folder, commit = download(ref)
    repo_id = parse_repo_ref(ref)[0]
    try:
        load_model(folder, registry=registry)
    except ResregError as exc:  # name the repo and commit, not the cache path
        raise type(exc)(str(exc).replace(str(folder), f"hf-hub:{repo_id}@{commit}")) from None
    if to is not None:
        to.mkdir(parents=True, exist_ok=True)
        for file in sorted(folder.iterdir()):
            if file.is_file():
                shutil.copyfile(file, to / file.name)  # the cache holds symlinks to blobs: copy the content
        write_text_atomic(to / PULLED_FILE, json.dumps({"repo_id": repo_id, "commit": commit}) + "\n")
        folder = to
    return folder, commit
