"""Knowledge distillation (Hinton et al. 2015): the student also fits a trained teacher's softened outputs.

The teacher runs in eval mode, without gradients, on the very images of each step (after mixing), under
the run's precision. It is never part of the run's state: checkpoints and the final model hold the
student alone. Loading goes through resreg's public API, so a pulled teacher is as untrusted as any
`pretrained:` source (its spec may describe an architecture and nothing else).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from resreg.layout import MODEL_FILE
from resreg.models import create_model, load_model
from resreg.recipe import TeacherSection
from resreg.registry import Registry


def load_teacher(section: TeacherSection, registry: Registry, device: torch.device) -> torch.nn.Module:
    """The teacher of `train.teacher`: a run directory, a weights file or Hub repo that carries its spec, a
    preset name, or a model spec (with `pretrained:`); frozen, in eval mode, on `device`."""
    source = section.source
    if isinstance(source, str) and (Path(source) / MODEL_FILE).is_file():  # a run directory: its final model
        source = str(Path(source) / MODEL_FILE)
    if isinstance(source, str) and source in registry.names("model"):  # a preset (with its `pretrained:`)
        teacher = create_model(source, registry=registry)
    elif isinstance(source, str):
        teacher = load_model(source, registry=registry)
    else:
        teacher = create_model(source, registry=registry)
    teacher.requires_grad_(False)
    return teacher.eval().to(device)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the outputs softened by `temperature`, x temperature^2 so its gradients keep
    their size whatever the temperature (Hinton et al. 2015, section 2)."""
    t = temperature
    student_log = F.log_softmax(student.float() / t, dim=1)
    teacher_log = F.log_softmax(teacher.float() / t, dim=1)
    return F.kl_div(student_log, teacher_log, log_target=True, reduction="batchmean") * t * t
