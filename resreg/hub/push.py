"""Hub transport for `resreg push`: one commit of prepared files, and the run's push log.

What a push uploads is decided above the Hub layer (`resreg.publish.upload_files`); this module only
commits it. One commit holds all files, so a repo never shows weights without their spec. The commit
sha is returned and, for a run, appended to `RUN_DIR/pushes.jsonl` so the exact pushed version can be
pulled later with `owner/name@sha`. Tokens come from huggingface_hub (HF_TOKEN or the saved login)
and are never read here.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from resreg.hub.client import DEFAULT_TIMEOUT_S, HUB_PREFIX, hub_call
from resreg.io import write_text_atomic
from resreg.layout import PUSHES_FILE


@dataclass
class Upload:
    """The files of one push, exactly as they would be uploaded: (name in the repo, bytes or a local file)."""

    files: list[tuple[str, bytes | Path]]
    commit_message: str
    run_dir: Path | None


@dataclass
class Pushed:
    """Where a push went."""

    repo_id: str
    revision: str
    commit: str
    url: str


def commit_files(
    upload: Upload,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Pushed:
    """Upload the files of `upload` to `repo_id` in one commit (the repo and branch created when missing).

    Each request waits at most `timeout_s` seconds to connect and between bytes (`hub_call`). For a run,
    the push is appended to `RUN_DIR/pushes.jsonl`.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    operations = [CommitOperationAdd(name, str(c) if isinstance(c, Path) else c) for name, c in upload.files]
    api = HfApi()
    with hub_call(f"{HUB_PREFIX}{repo_id}", upload=True, timeout_s=timeout_s):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message=upload.commit_message, revision=revision)
    pushed = Pushed(repo_id, revision or "main", info.oid, info.commit_url)
    if upload.run_dir:
        _record_push(upload.run_dir / PUSHES_FILE, pushed)
    return pushed


def opened_header(path: Path) -> dict[str, str]:
    """The metadata of a safetensors file (what its header says besides tensor shapes)."""
    import safetensors

    with safetensors.safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def _record_push(path: Path, pushed: Pushed) -> None:
    """Append one line to the run's push log (rewritten atomically: the log is short)."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **asdict(pushed)}
    write_text_atomic(path, old + json.dumps(line) + "\n")
