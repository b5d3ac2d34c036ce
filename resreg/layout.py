"""The names of the files in a run directory and in a model repo: spelled here once, used everywhere.

runs/<name>/                       written by `resreg train` (resreg.engine)
  config.yaml                      the resolved config
  metrics.jsonl, metrics.csv       one row per log window and per evaluation
  checkpoints/last.pt, best.pt     training state, for --resume and `resreg eval --checkpoint`
  model.safetensors                the final weights with their spec
  ensemble.yaml                    the snapshot ensemble, when the recipe keeps snapshots
  curves.png                       `resreg plot`; `resreg push` puts it on the model card
  pushes.jsonl                     one line per `resreg push` of the run
  run.lock                         while a run writes the directory: its host and pid (resreg.engine.run_lock)

a model repo (the Hub, or a folder `resreg pull --to` filled)
  model.safetensors                the weights, spec and provenance in the header
  resreg.yaml                      spec, train config, versions, plugin distributions
  config.json                      timm's layout (resreg reads either)
  README.md                        the model card
  curves.png                       the training curves, when the run drew them
  pulled.json                      written by `resreg pull --to`: the repo and commit sha
"""

from __future__ import annotations

from pathlib import Path

# --- a run directory -------------------------------------------------------------------------------
RUN_CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
METRICS_CSV_FILE = "metrics.csv"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
ENSEMBLE_CONFIG_FILE = "ensemble.yaml"
PUSHES_FILE = "pushes.jsonl"
RUN_LOCK_FILE = "run.lock"

# --- a model repo (and a run's weights and curves) ------------------------------------------------
MODEL_FILE = "model.safetensors"
RESREG_FILE = "resreg.yaml"
TIMM_CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
CURVES_FILE = "curves.png"
PULLED_FILE = "pulled.json"
#: the pickled state dicts timm and transformers repos held before safetensors (read only on request)
PICKLE_FILES = ("pytorch_model.bin",)
#: what `resreg pull` fetches: enough to rebuild either layout, never code
PULL_PATTERNS = [MODEL_FILE, RESREG_FILE, CARD_FILE, CURVES_FILE, TIMM_CONFIG_FILE]


def checkpoint_file(run_dir: Path, name: str) -> Path:
    """RUN_DIR/checkpoints/NAME (`last.pt`, `best.pt`; a bare `last` gets the `.pt`)."""
    return run_dir / CHECKPOINTS_DIR / (name if name.endswith(".pt") else f"{name}.pt")
