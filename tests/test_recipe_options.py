"""The modern recipe options, each checked against timm's own implementation on the same inputs: mixup and
CutMix, RandAugment, random erasing, the optimizers and their parameter groups, the scaled lr; and gradient
accumulation, whose N micro-batches give the gradient of the whole batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import Mixup
from timm.data.auto_augment import rand_augment_transform
from timm.data.mixup import mixup_target
from timm.data.random_erasing import RandomErasing
from timm.optim import Lamb
from timm.optim._param_groups import param_groups_weight_decay

from resreg import create_model
from resreg.data.augment import AugmentOptions, apply_rand_augment, draw, seeded_global_rngs
from resreg.engine.objective import Objective, make_loss
from resreg.engine.optim import build_optimizer, parameter_groups
from resreg.engine.precision import Precision
from resreg.errors import ConfigError
from resreg.plugins import get_registry
from resreg.recipe import build_recipe

CPU = torch.device("cpu")


def recipe(**values):
    return build_recipe({"preset": "fast", **values}, get_registry())


def images_and_labels(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 16, 16, generator=generator), torch.randint(0, 10, (n,), generator=generator)


@pytest.mark.parametrize("alphas", [{"mixup_alpha": 0.2}, {"cutmix_alpha": 1.0}, {"mixup_alpha": 1, "cutmix_alpha": 1}])
def test_mixing_is_timms_mixup_with_the_recipes_label_smoothing(alphas):
    # 0.2, not 0.1: timm's Mixup smooths by 0.1 unless told otherwise, so 0.1 could not show it was passed on
    r = recipe(label_smoothing=0.2, augment=alphas)
    objective = Objective.of(r, num_classes=10, seed=3)
    images, labels = images_and_labels()
    ours = objective.mix(images.clone(), labels, step=5)
    timm_mixup = Mixup(**{"mixup_alpha": 0.0, "cutmix_alpha": 0.0, **alphas}, label_smoothing=0.2, num_classes=10)
    with seeded_global_rngs(3, 5, 2):  # the same draws: (seed, step, mixing stream)
        theirs = timm_mixup(images.clone(), labels)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    if "cutmix_alpha" not in alphas:  # mixup: image i + image n-1-i with one lambda, the targets mixed alike
        flipped = images.flip(0)
        lam = ((ours[0] - flipped) / (images - flipped))[0, 0, 0, 0].item()
        assert torch.allclose(ours[0], lam * images + (1 - lam) * flipped, atol=1e-4)
        assert torch.allclose(ours[1], mixup_target(labels, 10, lam=lam, smoothing=0.2), atol=1e-4)
    assert not torch.equal(objective.mix(images.clone(), labels, step=6)[0], ours[0])  # another step, other draws


def test_mixed_targets_take_the_soft_target_loss_and_bce_takes_both():
    assert type(make_loss(recipe(augment={"mixup_alpha": 0.2}))).__name__ == "SoftTargetCrossEntropy"
    bce = make_loss(recipe(loss="bce", label_smoothing=0.1))
    assert type(bce).__name__ == "BinaryCrossEntropy" and bce.smoothing == 0.1


def test_rand_augment_is_timms_policy_on_each_image_with_its_own_seed():
    policy = "rand-m9-mstd0.5"
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8, generator=generator)
    d = draw(AugmentOptions(rand_augment=policy), 6, torch.Generator().manual_seed(2), crop=False)
    ours = apply_rand_augment(images, d.rand_seeds, policy)
    transform = rand_augment_transform(policy, {"img_mean": (128, 128, 128)})
    for i, seed in enumerate(d.rand_seeds.tolist()):
        with seeded_global_rngs(seed):
            theirs = np.asarray(transform(Image.fromarray(images[i].permute(1, 2, 0).numpy())))
        assert np.array_equal(ours[i].permute(1, 2, 0).numpy(), theirs), i
    assert not torch.equal(ours, images)
    assert torch.equal(apply_rand_augment(images[2:4], d.rand_seeds[2:4], policy), ours[2:4])  # a rank's rows alone


def test_a_bad_rand_augment_policy_is_one_line():
    with pytest.raises(ConfigError, match=r"train.augment.rand_augment='m9': not a timm RandAugment policy"):
        recipe(augment={"rand_augment": "m9"})


def test_random_erasing_is_timms_before_mixing():
    images, labels = images_and_labels()
    objective = Objective.of(recipe(augment={"random_erasing": 1.0}), num_classes=10, seed=0)
    torch.manual_seed(7)
    ours = objective.mix(images.clone(), labels, step=4)[0]
    torch.manual_seed(7)
    with seeded_global_rngs(0, 4, 1):
        theirs = RandomErasing(probability=1.0, mode="pixel", device="cpu")(images.clone())
    assert torch.equal(ours, theirs)
    changed = (ours != images).flatten(1).any(1)
    assert changed.all()  # probability 1: every image has its rectangle


def test_no_weight_decay_on_bias_and_norm_are_timms_groups_for_a_resnet():
    model = create_model("resnet50d", num_classes=10)
    ours = parameter_groups(model, 1e-4, ["bias", "norm"])
    theirs = param_groups_weight_decay(model, 1e-4)
    assert [{id(p) for p in g["params"]} for g in ours] == [{id(p) for p in g["params"]} for g in theirs]
    assert [g["weight_decay"] for g in ours] == [g["weight_decay"] for g in theirs] == [0.0, 1e-4]
    only_bias = parameter_groups(model, 1e-4, ["bias"])[0]["params"]
    assert only_bias and all(p.ndim == 1 for p in only_bias) and len(only_bias) < len(ours[0]["params"])
    optimizer = build_optimizer(recipe(no_weight_decay_on=["bias", "norm"]), model)
    assert [len(g["params"]) for g in optimizer.param_groups] == [len(g["params"]) for g in theirs]


def test_optimizers_by_name_come_from_timm_and_a_typo_is_one_line():
    model = torch.nn.Linear(4, 2)
    lamb = build_optimizer(recipe(optimizer="lamb", lr=5e-3, weight_decay=0.02), model)
    assert isinstance(lamb, Lamb) and lamb.param_groups[0]["lr"] == 5e-3
    sgd = build_optimizer(recipe(optimizer="sgd", nesterov=False), model)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"] is False
    with pytest.raises(ConfigError, match=r"train.optimizer: unknown optimizer 'lanb' \(did you mean 'lamb'\?"):
        recipe(optimizer="lanb")


@pytest.mark.parametrize(("batch", "expected"), [(256, 0.1), (1024, 0.4), (64, 0.025)])
def test_lr_scales_linearly_with_the_batch_as_timms_lr_base(batch, expected):
    r = recipe(lr=0.1, lr_base_batch=256, batch_size=batch)
    lr, why = r.scaled_lr()
    assert lr == pytest.approx(0.1 * batch / 256) == pytest.approx(expected)  # timm: lr_base * batch / lr_base_size
    assert why == f"train.lr 0.1 x batch {batch} / train.lr_base_batch 256"
    assert build_optimizer(r, torch.nn.Linear(2, 2)).param_groups[0]["lr"] == pytest.approx(expected)
    assert r.build_schedule(100).lr == pytest.approx(expected)
    assert recipe(lr=0.1, batch_size=batch).scaled_lr() == (0.1, "train.lr")  # off unless asked for


def test_accumulating_micro_batches_gives_the_gradient_of_the_whole_batch():
    """4 micro-batches of 4 == one batch of 16, within float tolerance (a model without batch norm: with
    it, each micro-batch is normalised by its own statistics, in timm as here)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(10))
    images, labels = images_and_labels(16)
    model(images)
    precision = Precision("fp32", CPU)
    gradients = []
    for accumulate in (1, 4):
        model.zero_grad()
        objective = Objective.of(recipe(batch_size=16, accumulate=accumulate, label_smoothing=0.1), num_classes=10,
                                 seed=0)  # fmt: skip
        logits, loss = objective.backward(model, images, labels, step=0, precision=precision)
        gradients.append(([p.grad.clone() for p in model.parameters()], logits, loss))
    (whole, logits1, loss1), (parts, logits4, loss4) = gradients
    for a, b in zip(whole, parts, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    assert torch.allclose(logits1, logits4, atol=1e-6) and loss1.item() == pytest.approx(loss4.item(), rel=1e-6)


def test_accumulate_must_divide_the_batch():
    with pytest.raises(ConfigError, match=r"train.accumulate=3 must be >= 1 and divide train.batch_size=128"):
        recipe(accumulate=3)


def test_the_run_banner_says_the_scaled_lr_and_why(tmp_path, cli):
    tiny = ["data={type: synthetic, num_images: 64, image_size: 8, in_chans: 1, num_classes: 4}", "train.length=1 step",
            "train.batch_size=64", "train.lr=0.1", "train.lr_base_batch=256", "engine.precision=fp32",
            "engine.channels_last=false", "eval.batch_size=64"]  # fmt: skip
    result = cli("train", "quickstart", *tiny, "--run-dir", str(tmp_path / "run"))
    assert result.status == 0, result.err[-2000:]
    banner = result.out + result.err
    assert "lr             0.025 (train.lr 0.1 x batch 64 / train.lr_base_batch 256)" in banner


def test_under_ddp_the_micro_batches_before_the_last_skip_the_all_reduce(monkeypatch, tmp_path):
    """A real DDP module (one gloo process): no_sync around every micro-batch but the last, so one all-reduce
    per optimizer step, and the same gradients as without DDP."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 10))
        ddp = DistributedDataParallel(model)
        skipped = []
        no_sync = DistributedDataParallel.no_sync
        monkeypatch.setattr(DistributedDataParallel, "no_sync", lambda self: skipped.append(1) or no_sync(self))
        images, labels = images_and_labels(16)
        objective = Objective.of(recipe(batch_size=16, accumulate=4), num_classes=10, seed=0)
        objective.backward(ddp, images, labels, step=0, precision=Precision("fp32", CPU))
        assert len(skipped) == 3
        through_ddp = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        objective.backward(model, images, labels, step=0, precision=Precision("fp32", CPU))
        for a, b in zip(through_ddp, [p.grad for p in model.parameters()], strict=True):
            assert torch.allclose(a, b, atol=1e-6)
    finally:
        dist.destroy_process_group()


def test_a_batch_left_odd_by_a_skipped_image_mixes_all_but_its_last_image():
    """Image folders leave unreadable images out of their batch; timm's Mixup refuses an odd batch."""
    objective = Objective.of(recipe(label_smoothing=0.1, augment={"mixup_alpha": 0.2}), num_classes=10, seed=3)
    images, labels = images_and_labels(7)
    mixed, targets = objective.mix(images.clone(), labels, step=5)
    even_mixed, even_targets = objective.mix(images[:6].clone(), labels[:6], step=5)
    assert torch.equal(mixed[:6], even_mixed) and torch.equal(targets[:6], even_targets)
    assert torch.equal(mixed[6], images[6])
    assert torch.allclose(targets[6], mixup_target(labels[6:], 10, smoothing=0.1)[0])


def test_a_batch_smaller_than_its_micro_batches_gives_a_finite_loss():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 10))
    objective = Objective.of(recipe(batch_size=16, accumulate=4), num_classes=10, seed=0)
    images, labels = images_and_labels(3)  # 13 of the batch's 16 images were unreadable
    logits, loss = objective.backward(model, images, labels, step=0, precision=Precision("fp32", CPU))
    assert logits.shape == (3, 10) and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
