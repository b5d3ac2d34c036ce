"""Every registered model exports: ONNX (dynamo) checked against onnxruntime, torch.export programs reloaded.

Parametrised over the registry, so a block, shortcut or preset that a plugin registers is exported
the moment it registers. By default every block and every shortcut is exported in a small net, plus
the smallest preset of each family (CIFAR and ImageNet ResNets, a DenseNet), an ensemble and
features mode; `pytest -m huge` exports every registered preset as it is (minutes on a CPU).
Outputs must agree with eager fp32 within 1e-4, at a batch size other than the traced one (the
batch dimension is dynamic); for the deepest nets, within twice eager fp32's own distance from fp64
when that is larger (see `check_onnx`).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import resreg
from resreg.artifact import Preprocessing
from resreg.export import export_onnx, export_program
from resreg.plugins import get_registry

REGISTRY = get_registry()
SIDE = 32  # small inputs: ImageNet nets reduce 32x, to a 1x1 map


def small_net(**changes) -> dict:
    return {"preset": "resnet20", "depths": [1, 1, 1], "widths": [8, 16, 16], "shortcut": "C", **changes}


def small_nets() -> dict[str, object]:
    """A small net of every registered block and every shortcut (C where the block needs a projection)."""
    nets: dict[str, object] = {f"block-{b}": small_net(block=b) for b in REGISTRY.names("block")}
    nets |= {f"shortcut-{s}": small_net(shortcut=s, widths=[16, 32, 32]) for s in REGISTRY.names("shortcut")}
    return nets


def family_representatives() -> dict[str, object]:
    """The smallest preset of each family, an ensemble and features mode."""
    tiny_densenet = {"preset": "densenet121", "block_config": [1, 2, 2, 1], "growth_rate": 8}
    return {
        "resnet20": "resnet20",
        "resnet18": "resnet18",
        "densenet": tiny_densenet,
        "ensemble": {"type": "ensemble", "members": [small_net(), small_net(block="preact_basic")]},
        "features-resnet": {**small_net(), "features_only": True},
        "features-densenet": {**tiny_densenet, "features_only": True},
    }


class SideBySide(torch.nn.Module):
    """Several models on one input, their outputs in one flat tuple: one export (one trace, one ONNX
    translation, whose fixed cost is most of an export's seconds) checks them all."""

    def __init__(self, models: dict[str, torch.nn.Module]) -> None:
        super().__init__()
        self.names = list(models)
        self.models = torch.nn.ModuleList(models.values())
        self.pretrained_cfg = {"input_size": (3, SIDE, SIDE)}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs: list[torch.Tensor] = []
        for model in self.models:
            out = model(x)
            outputs += out if isinstance(out, (list, tuple)) else [out]
        return tuple(outputs)

    def output_names(self, x: torch.Tensor) -> list[str]:
        names = []
        for name, model in zip(self.names, self.models, strict=True):
            out = model(x)
            names += [f"{name}[{i}]" for i in range(len(out))] if isinstance(out, (list, tuple)) else [name]
        return names


def default_groups() -> list:
    return [
        pytest.param(small_nets(), id="every-block-and-shortcut"),
        pytest.param(family_representatives(), id="families"),
    ]


def all_presets() -> list:
    return [pytest.param({name: name}, id=f"preset-{name}", marks=pytest.mark.huge) for name in REGISTRY.names("model")]


def calibrate(model: torch.nn.Module) -> torch.nn.Module:
    """Set every BatchNorm's running statistics from one batch, as training would, then eval mode.

    Fresh statistics (mean 0, var 1) let a deep net's activations grow with depth (ResNet-152's
    logits reach 1e4, pre-activation ResNet-110's 1e6), where fp32 rounding alone exceeds 1e-4; a
    trained net's are of order one, and so are these.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average: after one batch, that batch's statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, SIDE, SIDE))
    return model.eval()


def check_onnx(specs: dict[str, object], tmp_path) -> None:
    torch.manual_seed(0)
    model = calibrate(SideBySide({name: resreg.create_model(spec) for name, spec in specs.items()}))
    path = export_onnx(model, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, SIDE, SIDE)  # traced with 2: the batch is dynamic
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want, names = [t.numpy() for t in model(x)], model.output_names(x)
        exact = [t.numpy() for t in copy.deepcopy(model).double()(x.double())]
    assert len(got) == len(want)
    for name, a, b, c in zip(names, got, want, exact, strict=True):
        # 1e-4, unless eager fp32 itself is further than that from fp64 (a 152-layer random net is: about
        # 1e-2 at logits of 30); then onnxruntime may differ from it by up to twice eager's own rounding.
        rounding = float(np.abs(b - c).max())
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=max(1e-4, 2 * rounding), err_msg=name)


@pytest.mark.parametrize("specs", default_groups() + all_presets())
def test_onnx_export_matches_onnxruntime(specs, tmp_path):
    check_onnx(specs, tmp_path)


def test_onnx_file_carries_preprocessing_and_class_names(tmp_path):
    model = resreg.create_model(small_net(), in_chans=1, num_classes=3)
    mean_image = torch.rand(1, 28, 28)
    Preprocessing((1, 28, 28), (0.28,), (0.35,), label_names=["cat", "dog", "cow"], mean_image=mean_image).attach(model)
    path = export_onnx(model, tmp_path / "m.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    cfg = json.loads(props["resreg_pretrained_cfg"])
    assert cfg["input_size"] == [1, 28, 28] and cfg["mean"] == [0.28] and cfg["normalize"] == "pixel"
    assert json.loads(props["label_names"]) == ["cat", "dog", "cow"]
    assert torch.equal(torch.tensor(json.loads(props["resreg_mean_image"])), mean_image)
    assert json.loads(props["resreg_spec"]) == model.resreg_spec
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "images" and session.get_outputs()[0].name == "logits"
    assert session.run(None, {"images": np.zeros((5, 1, 28, 28), np.float32)})[0].shape == (5, 3)


def test_a_model_in_training_mode_is_exported_as_it_evaluates_and_left_training(tmp_path):
    """The file predicts: batch norm with its running statistics, not the batch's (the model is put in
    eval mode for the export), and the caller's training run goes on in training mode afterwards."""
    torch.manual_seed(0)
    model = calibrate(resreg.create_model(small_net())).train()
    path = export_onnx(model, tmp_path / "m.onnx")
    assert model.training
    x = torch.randn(3, 3, SIDE, SIDE)
    with torch.no_grad():
        want = model.eval()(x).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"images": x.numpy()})[0], want, rtol=1e-4, atol=1e-4)


def test_torch_export_program_reloads_with_a_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = resreg.create_model(small_net(block="bottleneck")).eval()
    path = export_program(model, tmp_path / "model.pt2", input_size=(SIDE, SIDE))
    extra = {"resreg.json": ""}
    program = torch.export.load(str(path), extra_files=extra)
    x = torch.randn(5, 3, SIDE, SIDE)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-5, atol=1e-5)
    assert json.loads(extra["resreg.json"])["resreg_spec"] == json.dumps(model.resreg_spec, sort_keys=True)


def test_export_cli_writes_both_formats_and_names_a_bad_format(tmp_path, capsys):
    from resreg.cli.main import main
    from resreg.weights import save_model

    torch.manual_seed(0)
    save_model(resreg.create_model(small_net()), tmp_path / "m.safetensors")
    assert main(["export", str(tmp_path / "m.safetensors"), "--format", "pt2", "--input-size", "16"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m.pt2") and (tmp_path / "m.pt2").is_file()
    with pytest.raises(SystemExit) as exited:  # argparse's own check: one line, status 2
        main(["export", str(tmp_path / "m.safetensors"), "--format", "tflite"])
    assert exited.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "none.safetensors"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resreg export: error: ") and "none.safetensors" in err and err.count("\n") == 1
