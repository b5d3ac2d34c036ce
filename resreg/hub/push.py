"""`resreg push`: a run (or one weights file) to a Hub repo as model.safetensors + resreg.yaml + model card.

What is published of a run is an allowlisted record (`resreg.hub.record`): the model spec, the
recipe's values, the data set's type and name, the evaluation options, the metrics and the versions;
never values resolved from the environment, local paths or the run directory's path. `upload_files`
builds exactly what would be uploaded (`resreg push --dry-run` prints it).

One commit holds all files, so a repo never shows weights without their spec. The commit sha is
returned (the CLI prints it) and, for a run, appended to `RUN_DIR/pushes.jsonl` so the exact pushed
version can be pulled later with `owner/name@sha`. Tokens come from huggingface_hub (HF_TOKEN or
the saved login) and are never read here.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from resreg.errors import ConfigError, WeightsError
from resreg.hub.card import final_metrics, model_card, read_metrics
from resreg.hub.client import hub_errors, parse_repo_ref
from resreg.hub.layout import dump_resreg_yaml, resreg_record
from resreg.io import write_text_atomic
from resreg.layout import (
    CARD_FILE,
    CURVES_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PUSHES_FILE,
    RESREG_FILE,
    RUN_CONFIG_FILE,
    TIMM_CONFIG_FILE,
)
from resreg.registry import Registry


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


def push(
    source: Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    message: str | None = None,
    registry: Registry | None = None,
) -> Pushed:
    """Upload a run dir (or a `.safetensors` file written by `save_model`) to `repo_id` in one commit.

    The files are those of `upload_files`.

    Args:
        source: a run dir (with model.safetensors, config.yaml, metrics.jsonl, maybe curves.png)
            or a single model file.
        repo_id: `owner/name`; the repo is created when it does not exist.
        revision: the branch to commit to (created from main when missing); default main.
        private: create the repo private (an existing repo keeps its visibility).
        message: the commit message.
        registry: where component provenance is looked up for files that lack it.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    upload = upload_files(source, repo_id, message=message, registry=registry)
    operations = [CommitOperationAdd(name, str(c) if isinstance(c, Path) else c) for name, c in upload.files]
    api = HfApi()
    with hub_errors(f"hf-hub:{repo_id}", upload=True):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message=upload.commit_message, revision=revision)
    pushed = Pushed(repo_id, revision or "main", info.oid, info.commit_url)
    if upload.run_dir:
        _record_push(upload.run_dir / PUSHES_FILE, pushed)
    return pushed


def upload_files(source: Path, repo_id: str, *, message: str | None = None, registry: Registry | None = None) -> Upload:
    """The files a push of `source` to `repo_id` uploads, checked to hold no local path or environment value."""
    from resreg.hub.record import check_publishable, published_config
    from resreg.weights.provenance import provenance
    from resreg.weights.sources import open_source

    parse_repo_ref(repo_id)  # checks the owner/name form before anything is read or uploaded
    if registry is None:
        from resreg.plugins import get_registry

        registry = get_registry()
    run_dir = source if source.is_dir() else None
    weights = source / MODEL_FILE if run_dir else source
    opened = open_source(weights, registry=registry)  # proves the file is whole before it is published
    if opened.spec is None:
        raise WeightsError(f"{weights}: carries no model spec; save it with resreg.weights.save_model to push it")
    spec = opened.spec
    components = opened.components or provenance(spec, registry)
    train = published_config(_run_config(run_dir / RUN_CONFIG_FILE), run_dir) if run_dir else None
    preprocessing = opened.preprocessing  # input size, normalisation, class names (resreg.artifact)
    record = resreg_record(spec, components, train, preprocessing.to_json() if preprocessing else None)
    rows = read_metrics(run_dir / METRICS_FILE) if run_dir else []
    if rows:
        record["metrics"] = final_metrics(rows)
    curves = run_dir / CURVES_FILE if run_dir and (run_dir / CURVES_FILE).is_file() else None
    card = model_card(repo_id, record, rows, has_curves=curves is not None)
    files: list[tuple[str, bytes | Path]] = [
        (MODEL_FILE, weights),
        (RESREG_FILE, dump_resreg_yaml(record).encode()),
        (CARD_FILE, card.encode()),
        (TIMM_CONFIG_FILE, _timm_config_json(spec, preprocessing, registry)),
    ]
    if curves is not None:
        files.append((CURVES_FILE, curves))
    texts = [(name, c.decode("utf-8", "replace")) for name, c in files if isinstance(c, bytes)]
    header = "\n".join(f"{k}: {v}" for k, v in opened_header(weights).items())
    check_publishable([*texts, (f"{MODEL_FILE} (its header)", header)], run_dir)
    commit_message = message or f"Upload {spec.get('type', 'model')} model with resreg"
    return Upload(files, commit_message, run_dir)


def opened_header(path: Path) -> dict[str, str]:
    """The metadata of a safetensors file (what its header says besides tensor shapes)."""
    import safetensors

    with safetensors.safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def _timm_config_json(spec: dict[str, Any], preprocessing: Any, registry: Registry) -> bytes:
    """config.json in timm's shape, so timm-style tools (and the Hub's download counter) see the repo."""
    from resreg.artifact import architecture_of, timm_config

    return json.dumps(timm_config(spec, preprocessing, architecture_of(spec, registry)), indent=2).encode()


def _run_config(path: Path) -> dict[str, Any] | None:
    import yaml

    if not path.is_file():
        return None
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    return config if isinstance(config, dict) else None


def _record_push(path: Path, pushed: Pushed) -> None:
    """Append one line to the run's push log (rewritten atomically: the log is short)."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **asdict(pushed)}
    write_text_atomic(path, old + json.dumps(line) + "\n")
