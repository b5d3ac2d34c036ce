"""A batch whose every image was unreadable (an image folder leaves bad images out of their batch) is empty:
it adds nothing to the loss or the gradients, on every loss path, and a real run goes on through it."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
import torch
from PIL import Image

from resreg import create_model
from resreg.engine.objective import Objective
from resreg.engine.precision import Precision
from resreg.layout import METRICS_FILE
from resreg.plugins import get_registry
from resreg.recipe import build_recipe

CPU = torch.device("cpu")
TINY = {"preset": "resnet20", "depths": [1, 1, 1], "num_classes": 4}


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(TINY, registry=get_registry()).train()


def empty_batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty(0, 3, 8, 8), torch.empty(0, dtype=torch.long)


LOSS_PATHS = {
    "cross-entropy": {},
    "bce": {"loss": "bce"},
    "mixup and cutmix": {"augment": {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "random_erasing": 1.0}},
    "micro-batches": {"batch_size": 16, "accumulate": 4},
    "distillation": {"teacher": "resnet20"},
}


@pytest.mark.parametrize("recipe", LOSS_PATHS.values(), ids=LOSS_PATHS.keys())
def test_an_empty_batch_has_a_zero_loss_and_zero_gradients_on_every_loss_path(recipe: dict) -> None:
    model = tiny_model()
    teacher = tiny_model().eval().requires_grad_(False) if "teacher" in recipe else None
    objective = Objective.of(build_recipe({"preset": "fast", **recipe}, get_registry()), num_classes=4, seed=0,
                             teacher=teacher)  # fmt: skip
    running = {name: buffer.clone() for name, buffer in model.named_buffers()}
    logits, loss = objective.backward(model, *empty_batch(), step=0, precision=Precision("fp32", CPU))
    assert logits.shape == (0, 4) and loss.item() == 0.0
    # every parameter got a gradient (the backward reached it, as DDP's all-reduce needs), and it is zero
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    assert all(torch.equal(buffer, running[name]) for name, buffer in model.named_buffers() if "running" in name)


def _rank_with_or_without_images(rank: int, rendezvous: str, grads: dict) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2,
                            timeout=timedelta(seconds=60))  # fmt: skip
    try:
        model = tiny_model()
        images, labels = (torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(4))
        if rank == 0:
            images, labels = empty_batch()
        objective = Objective.of(build_recipe({"preset": "fast"}, get_registry()), num_classes=4, seed=0)
        _, loss = objective.backward(DistributedDataParallel(model), images, labels, step=0,
                                     precision=Precision("fp32", CPU))  # fmt: skip
        grads[rank] = (loss.item(), [p.grad.clone() for p in model.parameters()])
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two real processes
def test_under_ddp_a_rank_with_an_empty_batch_joins_the_all_reduce_of_the_others(tmp_path) -> None:
    """Rank 0's batch is empty, rank 1's is not: both finish the step (rank 1 would wait forever for an
    all-reduce rank 0 skipped), with the average of their gradients: half of rank 1's own."""
    import torch.multiprocessing as mp

    with mp.Manager() as manager:
        grads = manager.dict()
        mp.spawn(_rank_with_or_without_images, args=(str(tmp_path / "rendezvous"), grads), nprocs=2)
        (loss0, synced0), (loss1, synced1) = grads[0], grads[1]
    model = tiny_model()
    images, labels = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(4)
    Objective.of(build_recipe({"preset": "fast"}, get_registry()), num_classes=4, seed=0).backward(
        model, images, labels, step=0, precision=Precision("fp32", CPU)
    )
    assert loss0 == 0.0 and loss1 > 0
    for own, a, b in zip([p.grad for p in model.parameters()], synced0, synced1, strict=True):
        assert torch.equal(a, b) and torch.allclose(a, own / 2, atol=1e-6)


TRAIN_CONFIG = """
model: {preset: resnet20, depths: [1, 1, 1]}
data: {type: imagefolder, root: data, val_dir: "", image_size: 8, max_bad_fraction: 0.5, workers: 0}
train: {preset: fast, length: 8 steps, batch_size: 1}
engine: {progress: lines, checkpoint_every: 0, log_every: 2, precision: fp32, channels_last: false}
eval: {splits: []}
"""


def test_a_run_goes_on_through_batches_of_unreadable_images_with_a_finite_loss(tmp_path, cli, monkeypatch) -> None:
    """One image a batch, half the images unreadable: 4 of the 8 steps see an empty batch."""
    rng = np.random.default_rng(0)
    for i, name in enumerate(("cat", "dog", "owl", "elk")):
        folder = tmp_path / "data" / "train" / name
        folder.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / "good.png")
        (folder / "bad.png").write_bytes(b"not an image" * i)  # empty, then not a PNG
    (tmp_path / "run.yaml").write_text(TRAIN_CONFIG)
    monkeypatch.chdir(tmp_path)
    result = cli("train", "run.yaml", "--run-dir", "run")
    assert result.status == 0, result.err[-2000:]
    assert result.err.count("unreadable image") == 4 and (tmp_path / "run" / "model.safetensors").is_file()
    rows = [json.loads(line) for line in (tmp_path / "run" / METRICS_FILE).read_text().splitlines()]
    losses = [row["train_loss"] for row in rows if "train_loss" in row]
    assert losses and all(np.isfinite(loss) and loss > 0 for loss in losses), rows
