"""Hub transport for `resreg pull` and `hf-hub:` sources: a repo's files through the Hub cache, pinned by commit sha.

Downloads go through `huggingface_hub.snapshot_download`, so they are cached (HF_HOME /
HF_HUB_CACHE), shared with timm and transformers, and served from the cache when HF_HUB_OFFLINE=1.
The snapshot folder is named by the commit sha it holds, which is what gets printed and recorded.
Only data files are fetched (see `PULL_PATTERNS`); nothing from a repo is imported or executed.
"""

from __future__ import annotations

from pathlib import Path

from resreg.hub.client import DEFAULT_TIMEOUT_S, HUB_PREFIX, hub_call, parse_repo_ref
from resreg.layout import PICKLE_FILES, PULL_PATTERNS


def download(ref: str, *, allow_pickle: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Path, str]:
    """Fetch the files of `owner/name[@revision]` into the cache; return (snapshot folder, commit sha).

    Each request waits at most `timeout_s` seconds to connect and between bytes (`hub_call`); a refused
    connection or an unknown host fails at once.
    """
    from huggingface_hub import snapshot_download

    repo_id, revision = parse_repo_ref(ref)
    patterns = PULL_PATTERNS + (list(PICKLE_FILES) if allow_pickle else [])
    with hub_call(f"{HUB_PREFIX}{ref}", timeout_s=timeout_s):
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns, etag_timeout=timeout_s))
    return folder, folder.name
