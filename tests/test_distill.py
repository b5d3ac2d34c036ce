"""Knowledge distillation: the loss is Hinton et al.'s, the teacher is any model source and is frozen, and
on a real short run the student's loss falls while nothing of the teacher is saved with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from resreg.engine.distill import distillation_loss, load_teacher
from resreg.engine.objective import Objective
from resreg.engine.precision import Precision
from resreg.errors import ConfigError
from resreg.plugins import get_registry
from resreg.recipe import TeacherSection, build_recipe

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def test_the_distillation_term_is_the_kl_of_the_softened_outputs_times_t_squared():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 6, 10, generator=generator)
    t = 4.0
    p, q = F.softmax(teacher / t, dim=1), F.softmax(student / t, dim=1)
    expected = (p * (p.log() - q.log())).sum(1).mean() * t * t
    assert distillation_loss(student, teacher, t).item() == pytest.approx(expected.item(), rel=1e-5)
    assert distillation_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-6)


def test_a_teacher_is_a_source_or_a_section_and_its_numbers_are_checked():
    registry = get_registry()
    assert build_recipe({"preset": "fast", "teacher": "runs/big"}, registry).teacher == TeacherSection(
        source="runs/big"
    )
    with pytest.raises(ConfigError, match=r"train.teacher: temperature=0 must be > 0 and weight=2 in \[0, 1\]"):
        build_recipe({"preset": "fast", "teacher": {"source": "x", "temperature": 0, "weight": 2}}, registry)


def test_a_preset_teacher_is_built_frozen_in_eval_mode():
    teacher = load_teacher(TeacherSection(source="resnet20"), get_registry(), torch.device("cpu"))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_the_step_loss_mixes_the_label_loss_and_the_distillation_term_by_weight():
    torch.manual_seed(0)
    student, teacher = torch.nn.Linear(12, 5), torch.nn.Linear(12, 5).requires_grad_(False)
    images, labels = torch.randn(8, 12), torch.randint(0, 5, (8,))
    recipe = build_recipe(
        {"preset": "fast", "label_smoothing": 0, "teacher": {"source": "x", "weight": 0.7}}, get_registry()
    )
    objective = Objective.of(recipe, num_classes=5, seed=0, teacher=teacher)
    _, loss = objective.backward(student, images, labels, step=0, precision=Precision("fp32", torch.device("cpu")))
    with torch.no_grad():
        s, t = student(images), teacher(images)
    expected = 0.3 * F.cross_entropy(s, labels) + 0.7 * distillation_loss(s, t, 4.0)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert student.weight.grad is not None and teacher.weight.grad is None


@pytest.mark.slow  # two real training runs: CI runs it
@pytest.mark.skipif(not FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
def test_a_student_distils_from_a_run_directory_its_loss_falls_and_the_teacher_is_not_saved(tmp_path, cli):
    short = ["data.limit=2048", "train.batch_size=64", "train.schedule.warmup=0", "engine.log_every=8",
             "engine.progress=none", "engine.precision=fp32", "engine.channels_last=false", "eval.batch_size=1000",
             "train.eval_every=1000 steps"]  # fmt: skip
    teacher = tmp_path / "teacher"
    trained = cli(
        "train", "quickstart", *short, "train.length=64 steps", "model.depths=[2,2,2]", "--run-dir", str(teacher)
    )
    assert trained.status == 0, trained.err[-2000:]
    student = tmp_path / "student"
    distilled = cli("train", "quickstart", *short, "train.length=48 steps", f"train.teacher.source={teacher}",
                    "train.teacher.temperature=4", "train.teacher.weight=0.7", "--run-dir", str(student))  # fmt: skip
    assert distilled.status == 0, distilled.err[-2000:]
    rows = [json.loads(line) for line in (student / "metrics.jsonl").read_text().splitlines()]
    losses = [row["train_loss"] for row in rows if "train_loss" in row]
    assert len(losses) == 6 and losses[-1] < 0.6 * losses[0], losses
    saved = load_file(student / "model.safetensors")
    teacher_keys = set(load_file(teacher / "model.safetensors"))
    assert saved.keys() < teacher_keys  # the student's ResNet-8 keys only: none of the teacher's deeper blocks
    last = torch.load(student / "checkpoints" / "last.pt", weights_only=False)
    assert set(last["model"]) == set(saved) and "teacher" not in last
