"""The model card (`README.md`) of a pushed model: YAML front matter the Hub indexes, then a readable page.

The front matter says `library_name: resreg` plus tags (the builder, blocks, ... of the spec), the
data set and the metric; the page has the results table from the rows of the run's `metrics.jsonl` (final
and best value of each evaluation metric), the training curves when the run drew them, and how to load it.
"""

from __future__ import annotations

from typing import Any

from resreg.layout import CURVES_FILE

#: metrics.jsonl columns shown in the results table; errors and losses are better when lower
EVAL_METRICS = ("test_error", "val_error", "test_loss", "val_loss", "train_error", "train_loss")


def final_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The last recorded value of each evaluation metric (what `resreg.yaml` publishes as `metrics:`)."""
    final: dict[str, float] = {}
    for metric in EVAL_METRICS:
        seen = [r[metric] for r in rows if isinstance(r.get(metric), (int, float))]
        if seen:
            final[metric] = float(seen[-1])
    return final


def results_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table: each evaluation metric's final and best value (errors as percentages)."""
    lines = ["| metric | final | best | at step |", "|---|---|---|---|"]
    for metric in EVAL_METRICS:
        seen = [r for r in rows if isinstance(r.get(metric), (int, float))]
        if not seen:
            continue
        best = min(seen, key=lambda r: r[metric])
        final = _show(metric, seen[-1][metric])
        lines.append(f"| {metric} | {final} | {_show(metric, best[metric])} | {best.get('step', '?')} |")
    return "\n".join(lines) if len(lines) > 2 else "No evaluation metrics were recorded."


def _show(metric: str, value: float) -> str:
    return f"{100 * value:.2f}%" if metric.endswith("_error") else f"{value:.4f}"


def model_card(
    repo_id: str,
    record: dict[str, Any],
    rows: list[dict[str, Any]],
    *,
    has_curves: bool,
) -> str:
    """The README.md text for a repo holding the model described by `record` (see `layout.resreg_record`)."""
    import yaml

    spec, train = record["spec"], record.get("train") or {}
    components = record.get("components", [])
    tags = ["resreg", "image-classification"]
    tags += [c["name"] if c["kind"] == "builder" else f"{c['kind']}-{c['name']}" for c in components]
    front: dict[str, Any] = {"library_name": "resreg", "tags": tags, "pipeline_tag": "image-classification"}
    dataset = _dataset_name(train.get("data"))
    if dataset:
        front["datasets"] = [dataset]
    if any(m.endswith("_error") for row in rows for m in row):
        front["metrics"] = ["accuracy"]  # the table reports error = 1 - accuracy
    name = train.get("name") or repo_id.split("/")[-1]
    results = model_index(name, dataset, rows)
    if results:
        front["model-index"] = results
    curves = f"\n## Training curves\n\n![training curves]({CURVES_FILE})\n" if has_curves else ""
    plugins = ", ".join(f"{d} {v}" for d, v in record.get("plugins", {}).items()) or "resreg"
    # The plugins besides resreg that provide its components: without them the model does not build.
    needed = [f"{d}=={v}" for d, v in record.get("plugins", {}).items() if d != "resreg"]
    install = f"```bash\npip install resreg {' '.join(needed)}\n```\n\n" if needed else ""
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n"
        f"# {name}\n\n"
        f"A `{spec.get('type', 'model')}` model trained with resreg"
        f"{f' on {dataset}' if dataset else ''}. Built from plugins: {plugins}.\n\n"
        f"## Results\n\n{results_table(rows)}\n{curves}\n"
        "## Use\n\n"
        f"{install}"
        "```python\n"
        "import resreg\n\n"
        f'model = resreg.create_model("hf-hub:{repo_id}")  # add @<commit sha> to pin this version\n'
        'predictions = resreg.predict(model, ["image.png"], top_k=5)  # prepared as in its evaluation\n'
        "```\n\n"
        f"From the shell: `resreg predict hf-hub:{repo_id} IMAGES_OR_FOLDERS...`, "
        "`resreg pull " + repo_id + " --to weights/`. The full spec and the training record (recipe, data "
        "set, evaluation options, metrics) are in `resreg.yaml`.\n"
    )


def model_index(name: str, dataset: str | None, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The Hub's `model-index` front matter: top-1 (and top-5) accuracy in % of the run's final evaluation
    of each split (test, val), so the Hub shows them on the model page."""
    if dataset is None:
        return None
    results = []
    for split in ("test", "val"):
        final = next((r for r in reversed(rows) if isinstance(r.get(f"{split}_error"), (int, float))), None)
        if final is None:
            continue
        metrics = [_accuracy("Top-1", final[f"{split}_error"])]
        if isinstance(final.get(f"{split}_top5_error"), (int, float)):
            metrics.append(_accuracy("Top-5", final[f"{split}_top5_error"]))
        results.append({
            "task": {"type": "image-classification", "name": "Image Classification"},
            "dataset": {"type": dataset, "name": dataset, "split": split},
            "metrics": metrics,
        })  # fmt: skip
    return [{"name": name, "results": results}] if results else None


def _accuracy(name: str, error: float) -> dict[str, Any]:
    return {"type": "accuracy", "name": f"{name} accuracy", "value": round(100 * (1 - error), 2)}


def _dataset_name(data: Any) -> str | None:
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return data["type"]
    return None
