"""Hub transport for `resreg pull` and `hf-hub:` sources: a repo's files through the Hub cache, pinned by commit sha.

Downloads go through `huggingface_hub.snapshot_download`, so they are cached (HF_HOME /
HF_HUB_CACHE), shared with timm and transformers, and served from the cache when HF_HUB_OFFLINE=1.
The snapshot folder is named by the commit sha it holds, which is what gets printed and recorded.
Only data files are fetched (see `PULL_PATTERNS`); nothing from a repo is imported or executed.
"""

from __future__ import annotations

from pathlib import Path

from resreg.hub.client import hub_errors, parse_repo_ref
from resreg.layout import PICKLE_FILES, PULL_PATTERNS


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
