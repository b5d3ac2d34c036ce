"""Every stateful part of a run survives a checkpoint: pushed off its defaults, saved, loaded into a fresh run.

tests/test_resume.py proves a kill -9 resume end to end, but it stops its run early, while much of the
state still holds its defaults (the warm-up lr, no plateau drop, ...): skipping one part in
`Run.load_state_dict` could pass it. Here each part is first moved away from what a freshly built run
holds (asserted, so the test can fail), then the fresh run must hold exactly the saved state and take
exactly the next step the original takes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from timm.utils import ModelEmaV3

import resreg
from resreg.config.options import EngineOptions, EvalOptions
from resreg.data import AugmentOptions, make_loader, synthetic
from resreg.engine import checkpoint
from resreg.engine.distributed import Dist
from resreg.engine.loop import Run
from resreg.engine.precision import Precision
from resreg.engine.progress import Progress
from resreg.schedule import Schedule

CPU = torch.device("cpu")
MODEL = {"preset": "resnet20", "depths": [1, 1, 1], "widths": [4, 8, 8], "shortcut": "B", "drop_path_rate": 0.3}


def build_run(run_dir: Path, init_seed: int) -> Run:
    """A run as resreg.engine.run.train builds one, from the same config; `init_seed` seeds the weights and RNG."""
    torch.manual_seed(init_seed)
    model = resreg.create_model(MODEL, num_classes=4, in_chans=3)
    data = synthetic(num_images=128, image_size=8, num_classes=4)
    augment = AugmentOptions(crop_padding=2, hflip=True)
    loader = make_loader(data.train, batch_size=16, train=True, augment=augment, device=CPU, seed=0, stats=data)
    # A schedule with both feedback rules on: the warm-up (warmup_lr) and the plateau drops.
    schedule = Schedule(lr=0.1, total_steps=100, milestones=[50], warmup_lr=0.01, warmup_until_error=0.8,
                        plateau_patience=2)  # fmt: skip
    precision = Precision("fp32", CPU)
    # fp16's scaler is GPU-only through Precision; the CPU scaler has the same state, and a short
    # growth interval moves it off its initial scale within a few steps.
    precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=2)
    run = Run(
        dir=run_dir,
        config={"name": "state"},
        model=model,
        step=0,
        total_steps=100,
        steps_per_epoch=len(loader),
        info=Dist(rank=0, world_size=1, local_rank=0, device=CPU),
        options=EngineOptions(progress="none", precision="fp32", channels_last=False),
        eval_options=EvalOptions(),
        train_module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4),
        schedule=schedule,
        precision=precision,
        loader=loader,
        eval_loaders={},
        eval_every=1000,
        ema=ModelEmaV3(model, decay=0.9),
    )
    run.progress = Progress("none", total=run.total_steps, initial=0)
    run._reset_window()
    return run


def next_step(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """Take the run's next optimizer step on the batch its loader yields at this step; return that batch."""
    images, labels = next(run._batches())
    run.train_module.train()
    run.train_step(images, labels)
    return images, labels


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two nested states (dicts, lists, tensors, numbers) differ; [] when they are exactly equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(map(str, a.keys() ^ b.keys()))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def test_every_stateful_part_of_a_run_round_trips(tmp_path):
    original = build_run(tmp_path, init_seed=0)
    for _ in range(5):  # weights, momentum buffers, EMA, scaler growth, the RNG (drop path) and the step move
        next_step(original)
    original.schedule.observe_train(0.5)  # the warm-up ends
    for error in (0.5, 0.6, 0.7, 0.65):  # one plateau drop, then one more evaluation without a better error
        original.schedule.observe_eval(error)
    original.best_error = 0.42
    saved = original.state_dict()
    path = checkpoint.save(tmp_path / "checkpoints" / checkpoint.LAST, saved)

    fresh = build_run(tmp_path, init_seed=1)
    defaults = fresh.state_dict()
    assert set(saved) == {"step", "model", "optimizer", "schedule", "scaler", "rng", "best_error", "ema"}
    for part in saved:  # every part is off the fresh run's defaults, so skipping it on load would show
        assert differences(saved[part], defaults[part]), f"{part} still holds its default: the test proves nothing"
    for key in ("warming", "plateau_drops", "best_error", "bad_evals"):
        assert saved["schedule"][key] != defaults["schedule"][key], key
    assert fresh.schedule.lr_at(saved["step"]) != original.schedule.lr_at(saved["step"])
    assert original.schedule.lr_at(saved["step"]) == pytest.approx(0.1 * 0.1)  # warm-up over, one plateau drop

    fresh.load_state_dict(checkpoint.load(path))
    assert differences(fresh.state_dict(), saved) == []
    assert fresh.schedule.lr_at(fresh.step) == original.schedule.lr_at(original.step)
    assert (fresh.schedule.warming, fresh.schedule.plateau_drops, fresh.schedule.bad_evals) == (False, 1, 1)
    assert fresh.best_error == 0.42 and math.isinf(defaults["best_error"])

    # The next step is the one the original takes: same batch (data order), same drop-path draws (RNG),
    # same lr, momentum and scale: bitwise the same weights, EMA and optimizer state after it.
    got = next_step(fresh)
    checkpoint.set_rng_state(saved["rng"])
    expected = next_step(original)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)), "a different batch after loading"
    assert differences(fresh.state_dict(), original.state_dict()) == []
    assert fresh.optimizer.param_groups[0]["lr"] == original.optimizer.param_groups[0]["lr"]


def test_the_rng_state_decides_the_drop_path_draws(tmp_path):
    """Guards the test above: with another RNG state the next step's weights differ (drop path is on)."""
    a, b = build_run(tmp_path, init_seed=0), build_run(tmp_path, init_seed=0)
    torch.manual_seed(1)
    next_step(a)
    torch.manual_seed(2)
    next_step(b)
    assert differences(a.model.state_dict(), b.model.state_dict())
