"""Snapshot ensembles for real: a short Fashion-MNIST run saves M different snapshots and an ensemble of them
that evaluates, and is better than its members on average."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from resreg.schedule import Schedule

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def test_cosine_cycles_restart_the_lr():
    schedule = Schedule(lr=0.1, total_steps=30, decay="cosine", cycles=3)
    assert schedule.cycle_ends() == [10, 20, 30]
    for start in (0, 10, 20):
        assert schedule.lr_at(start) == pytest.approx(0.1)
        assert schedule.lr_at(start + 5) == pytest.approx(0.05)
        assert schedule.lr_at(start + 9) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.9)))


@pytest.mark.slow  # a real training run and evaluation: CI runs it
@pytest.mark.skipif(not FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
def test_a_snapshot_run_saves_m_different_snapshots_whose_ensemble_beats_its_mean_member(tmp_path, cli):
    """Through `resreg train` and `resreg eval` in-process (conftest's cli), on 2,048 real training images.

    32 steps per cycle: fewer leave a snapshot's BatchNorm running statistics so far from its weights that
    its confident mistakes outweigh the others in the ensemble (8 steps per cycle gave a first snapshot
    with loss 8 and an ensemble worse than its mean member)."""
    run = tmp_path / "run"
    overrides = ["data.limit=2048", "data.val_split=1000", "eval.splits=[val]", "train.length=1.5",
                 "train.batch_size=32", "train.lr=0.05", "train.schedule.warmup=0", "train.snapshots=3",
                 "train.eval_every=1000", "engine.log_every=8", "eval.batch_size=1000",
                 "train.augment.normalize=pixel"]  # fmt: skip  # the mean image: ensemble.yaml must carry it
    trained = cli("train", "quickstart", *overrides, "--run-dir", str(run), env={"RESREG_DEBUG": "1"})
    assert trained.status == 0, trained.err[-3000:]
    paths = sorted((run / "snapshots").glob("*.safetensors"))
    assert [p.name for p in paths] == ["snapshot1.safetensors", "snapshot2.safetensors", "snapshot3.safetensors"]
    weights = [load_file(p) for p in paths]
    for (i, a), (j, b) in itertools.combinations(enumerate(weights, 1), 2):  # one model saved three times fails
        assert any(not torch.equal(a[k], b[k]) for k in a), f"snapshots {i} and {j} hold the same weights"
    config = yaml.safe_load((run / "ensemble.yaml").read_text())
    assert config["model"]["type"] == "ensemble"
    assert [Path(m).name for m in config["model"]["members"]] == [p.name for p in paths]

    evaluated = cli("eval", str(run / "ensemble.yaml"), "--json", env={"RESREG_DEBUG": "1"})
    assert evaluated.status == 0, evaluated.err[-3000:]
    figures = json.loads(evaluated.out)
    errors = [figures[f"val_member{i}_error"] for i in range(3)]
    losses = [figures[f"val_member{i}_loss"] for i in range(3)]
    assert all(0 <= e <= 1 for e in errors), figures
    assert figures["val_error"] < 0.9, figures  # better than chance
    # The ensemble averages the members' probabilities: never worse than its mean member. For the loss
    # that is Jensen's inequality, strict unless the members agree everywhere (the same model thrice).
    assert figures["val_error"] <= sum(errors) / 3, figures
    assert figures["val_loss"] < sum(losses) / 3 - 1e-4, figures
    # The last snapshot is the run's final model: its error is what training reported.
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if "val_error" in r][-1]["val_error"]
    assert errors[-1] == pytest.approx(final, abs=1e-4)
