"""Publishing a model on the Hugging Face Hub, and taking one back: `push` and `pull`.

`push` uploads a run (or one weights file) as model.safetensors + resreg.yaml + config.json + a model
card. What is published of a run is an allowlisted record (`resreg.hub.record`): the model spec, the
recipe's values, the data set's type and name, the evaluation options, the metrics and the versions;
never values resolved from the environment, local paths or the run directory's path. `upload_files`
builds exactly what would be uploaded (`resreg push --dry-run` prints it).

`pull` downloads a repo and proves it rebuilds here before it returns. This module composes the
weights (`resreg.weights`) with the Hub transport (`resreg.hub`), which knows nothing of models.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from resreg.artifact import timm_config
from resreg.errors import ResregError, WeightsError
from resreg.hub.card import final_metrics, model_card
from resreg.hub.client import DEFAULT_TIMEOUT_S, parse_repo_ref
from resreg.hub.pull import download
from resreg.hub.push import Pushed, Upload, commit_files, opened_header
from resreg.hub.record import check_publishable, published_config
from resreg.hub.resreg_yaml import dump_resreg_yaml, resreg_record
from resreg.io import read_json_lines, write_text_atomic
from resreg.layout import (
    CARD_FILE,
    CURVES_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PULLED_FILE,
    RESREG_FILE,
    RUN_CONFIG_FILE,
    TIMM_CONFIG_FILE,
)
from resreg.loading.names import hub_name
from resreg.loading.sources import open_source
from resreg.models import architecture_of, load_model
from resreg.plugins import get_registry
from resreg.registry import Registry
from resreg.weights import provenance
from resreg.yaml_file import read_yaml


def push(
    source: Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    message: str | None = None,
    registry: Registry | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
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
        timeout_s: seconds each Hub request may wait to connect, and then for each read or write.
    """
    upload = upload_files(source, repo_id, message=message, registry=registry)
    return commit_files(upload, repo_id, revision=revision, private=private, timeout_s=timeout_s)


def upload_files(source: Path, repo_id: str, *, message: str | None = None, registry: Registry | None = None) -> Upload:
    """The files a push of `source` to `repo_id` uploads, checked to hold no local path or environment value."""
    parse_repo_ref(repo_id)  # checks the owner/name form before anything is read or uploaded
    registry = get_registry() if registry is None else registry
    run_dir = source if source.is_dir() else None
    weights = source / MODEL_FILE if run_dir else source
    opened = open_source(weights, registry)  # proves the file is whole before it is published
    if opened.spec is None:
        raise WeightsError(f"{weights}: carries no model spec; save it with resreg.weights.save_model to push it")
    spec = opened.spec
    components = opened.components or provenance(spec, registry)
    train = published_config(_run_config(run_dir / RUN_CONFIG_FILE), run_dir) if run_dir else None
    preprocessing = opened.preprocessing  # input size, normalisation, class names (resreg.artifact)
    record = resreg_record(spec, components, train, preprocessing.to_json() if preprocessing else None)
    rows = read_json_lines(run_dir / METRICS_FILE) if run_dir else []
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


def _timm_config_json(spec: dict[str, Any], preprocessing: Any, registry: Registry) -> bytes:
    """config.json in timm's shape, so timm-style tools (and the Hub's download counter) see the repo."""
    return json.dumps(timm_config(spec, preprocessing, architecture_of(spec, registry)), indent=2).encode()


def _run_config(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    config = read_yaml(path)
    return config if isinstance(config, dict) else None


def pull(
    ref: str, *, to: Path | None = None, registry: Registry | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[Path, str]:
    """Download a resreg (or timm) repo, prove it rebuilds here, and optionally copy it to `to`.

    The model is rebuilt from the repo and its weights loaded strictly, so a corrupt file, weights
    that do not fit the spec, or a component that no installed plugin provides (named, with the
    distribution to install) fail now rather than at first use. Each Hub request waits at most
    `timeout_s` seconds to connect, and then for each read. Returns the folder with the files and the
    commit sha.
    """
    folder, commit = download(ref, timeout_s=timeout_s)
    repo_id = parse_repo_ref(ref)[0]
    try:
        load_model(folder, registry=registry)
    except ResregError as exc:  # name the repo and commit, not the cache path
        raise type(exc)(str(exc).replace(str(folder), hub_name(repo_id, commit))) from None
    if to is not None:
        to.mkdir(parents=True, exist_ok=True)
        for file in sorted(folder.iterdir()):
            if file.is_file():
                shutil.copyfile(file, to / file.name)  # the cache holds symlinks to blobs: copy the content
        write_text_atomic(to / PULLED_FILE, json.dumps({"repo_id": repo_id, "commit": commit}) + "\n")
        folder = to
    return folder, commit
