"""DenseNet plugin: paper and torchvision/timm figures, key layout, weight equivalence, memory-efficient mode,
features mode, the legacy-key converter. Figures from ../shared/REFERENCE.md."""

from __future__ import annotations

import subprocess
import sys

import pytest
import timm
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import resreg
from resreg.errors import ConfigError
from resreg.plugins import get_registry

IMAGENET = {  # name: (exact parameters, MACs at 224x224 in G)
    "densenet121": (7_978_856, 2.834),
    "densenet169": (14_149_480, 3.36),
    "densenet201": (20_013_928, 4.291),
    "densenet161": (28_681_000, 7.728),
}
CIFAR = {  # paper Table 2, parameters in M (10 classes)
    "densenet40_k12": 1.0,
    "densenet100_k12": 7.0,
    "densenet100_k24": 27.2,
    "densenet_bc100_k12": 0.8,
    "densenet_bc250_k24": 15.3,
    "densenet_bc190_k40": 25.6,
}
# A small DenseNet-BC for the tests that run forward and backward.
TINY = {
    "type": "densenet",
    "stem": "cifar",
    "growth_rate": 4,
    "block_config": [2, 3, 2],
    "num_init_features": 8,
    "num_classes": 5,
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def on_meta(name: str, **kwargs) -> torch.nn.Module:
    """Build on the meta device: shapes without memory or init time, for counts, keys and FLOPs."""
    with torch.device("meta"):
        return resreg.create_model(name, **kwargs)


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Give a (meta-built) model's every parameter and BN statistic a random non-default value on the CPU.

    Faster than the libraries' own initialisation, and a key that fails to load cannot go unnoticed.
    """
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, (2 / fan_in) ** 0.5, generator=generator)  # He normal
                if module.bias is not None:
                    module.bias.normal_(0, 0.1, generator=generator)
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
                module.num_batches_tracked.fill_(1)
    return model.eval()


def theirs_on_meta(library: str, name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return getattr(torchvision.models, name)() if library == "torchvision" else timm.create_model(name)


@pytest.mark.parametrize("name", IMAGENET)
def test_imagenet_parameters_exact_and_macs_within_1_percent(name):
    model = on_meta(name)
    params, gmacs = IMAGENET[name]
    assert n_params(model) == params
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    macs = counter.get_total_flops() / 2 / 1e9  # the counter counts 2 FLOPs per multiply-add
    assert macs == pytest.approx(gmacs, rel=0.01)


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_parameters_within_50k_of_the_paper(name):
    model = on_meta(name)
    assert abs(n_params(model) / 1e6 - CIFAR[name]) <= 0.05
    assert model(torch.empty(1, 3, 32, 32, device="meta")).shape == (1, 10)


def test_densenet264_is_about_33m():
    assert n_params(on_meta("densenet264")) == pytest.approx(33e6, rel=0.02)


@pytest.mark.parametrize("name", IMAGENET)
@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_state_dict_keys_order_and_shapes_equal_theirs(name, library):
    theirs, ours = theirs_on_meta(library, name), on_meta(name)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]


# 169 and 201 only add layers to 121's blocks (their layouts are checked exactly above): slow, for CI.
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in ("densenet169", "densenet201") else n for n in IMAGENET]
)
def test_their_weights_give_their_logits(name):
    ours = on_meta(name).to_empty(device="cpu").eval()  # every value comes from their state dict
    x = torch.randn(1, 3, 32, 32)  # small: 32x32 still leaves 1x1 after the /32 of the network
    for library in ("torchvision", "timm"):
        theirs = randomised(theirs_on_meta(library, name))
        ours.load_state_dict(theirs.state_dict(), strict=True)
        with torch.no_grad():
            assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5, library


def test_features_equal_timm_intermediates():
    theirs = randomised(theirs_on_meta("timm", "densenet121"))
    ours = on_meta("densenet121", features_only=True).to_empty(device="cpu").eval()
    missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=False)
    assert not missing and unexpected == ["classifier.weight", "classifier.bias"]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = theirs.forward_intermediates(x, intermediates_only=True)
        got = ours(x)
    assert len(got) == len(expected) == 5
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and torch.allclose(g, e, atol=1e-5)


def legacy_keys(state_dict: dict) -> dict:
    """torchvision's old checkpoints (LuaTorch ports): `denselayer1.norm.1`, ..., and no num_batches_tracked."""
    legacy = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        if ".denselayer" in key:
            for part in ("norm1", "conv1", "norm2", "conv2"):
                key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        legacy[key] = value
    return legacy


def test_converter_renames_legacy_keys_to_current_ones_in_order():
    current = theirs_on_meta("torchvision", "densenet121").state_dict()
    legacy = legacy_keys(current)
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    convert = get_registry().get("converter", "torchvision_densenet_legacy").obj
    assert list(convert(legacy)) == [k for k in current if not k.endswith("num_batches_tracked")]


def test_legacy_checkpoint_loads_as_pretrained(tmp_path):
    """A legacy-key safetensors file through `create_model(pretrained=...)`: converter and loader together."""
    from safetensors.torch import save_file

    theirs = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, num_classes=5)
    theirs = randomised(theirs)
    path = tmp_path / "legacy.safetensors"
    save_file({k: v.contiguous() for k, v in legacy_keys(theirs.state_dict()).items()}, str(path))
    spec = {"type": "densenet", "growth_rate": 4, "block_config": [2, 2], "num_init_features": 8, "num_classes": 5}
    ours = resreg.create_model(spec, pretrained=str(path)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5


def test_converter_leaves_current_keys_alone():
    convert = get_registry().get("converter", "torchvision_densenet_legacy").obj
    state = on_meta("densenet_bc100_k12").state_dict()
    assert list(convert(state)) == list(state)


@pytest.mark.parametrize("drop_rate", [0.0, 0.2])
def test_memory_efficient_gives_same_outputs_gradients_and_running_stats(drop_rate):
    results = []
    for memory_efficient in (False, True):
        torch.manual_seed(0)
        model = resreg.create_model({**TINY, "drop_rate": drop_rate, "memory_efficient": memory_efficient})
        x = torch.randn(3, 3, 16, 16, requires_grad=True)
        out = model(x)
        out.square().sum().backward()
        buffers = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "batches" in k}
        results.append((out.detach(), x.grad, {k: p.grad for k, p in model.named_parameters()}, buffers))
    (out0, xg0, g0, b0), (out1, xg1, g1, b1) = results
    assert torch.allclose(out0, out1, atol=1e-5)
    assert torch.allclose(xg0, xg1, atol=1e-5)
    assert g0.keys() == g1.keys()
    for key in g0:
        assert torch.allclose(g0[key], g1[key], atol=1e-5), key
    for key in b0:  # the recomputation in backward must not count the batch twice
        assert torch.equal(b0[key], b1[key]), key


def test_memory_efficient_layers_really_checkpoint():
    model = resreg.create_model({**TINY, "memory_efficient": True})
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        model(torch.randn(2, 3, 16, 16))
    plain = []
    model = resreg.create_model(TINY)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: plain.append(t.shape) or t, lambda t: t):
        model(torch.randn(2, 3, 16, 16))
    assert len(saved) < len(plain)


def test_dropout_follows_both_convolutions_of_a_bottleneck_layer_as_in_the_paper():
    """Huang et al. section 4: dropout after every convolution but the network's first, so after a
    DenseNet-BC layer's 1x1 and its 3x3 (torchvision and timm drop only after the 3x3)."""
    layer = resreg.create_model({**TINY, "drop_rate": 0.5}).train().features.denseblock1.denselayer1
    x = torch.randn(2, 8, 8, 8)
    torch.manual_seed(0)
    out = layer([x])
    torch.manual_seed(0)  # the same dropout masks, drawn in the same order
    hidden = torch.nn.functional.dropout(layer.conv1(layer.norm1(x)), 0.5)
    assert torch.equal(out, torch.nn.functional.dropout(layer.conv2(layer.norm2(hidden)), 0.5))


def test_set_grad_checkpointing_switches_memory_efficient_as_timms():
    torch.manual_seed(0)
    model = resreg.create_model(TINY).train()
    reference = resreg.create_model(TINY).train()
    reference.load_state_dict(model.state_dict())
    model.set_grad_checkpointing()
    layers = [m for m in model.modules() if hasattr(m, "memory_efficient")]
    assert layers and all(m.memory_efficient for m in layers) and model.grad_checkpointing
    x = torch.randn(2, 3, 16, 16)
    saved, plain = [], []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = model(x)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: plain.append(t) or t, lambda t: t):
        expected = reference(x)
    assert torch.allclose(out, expected, atol=1e-5) and len(saved) < len(plain)
    out.sum().backward()
    expected.sum().backward()
    grads = dict(reference.named_parameters())
    assert all(torch.allclose(p.grad, grads[k].grad, atol=1e-5) for k, p in model.named_parameters())
    model.set_grad_checkpointing(False)
    assert not any(m.memory_efficient for m in layers)


def test_builder_contract():
    model = resreg.create_model(TINY).eval()
    assert model.resreg_spec["type"] == "densenet"
    assert model.num_classes == 5 and model.num_features == 18  # (((8 + 2*4) / 2 + 3*4) / 2 + 2*4
    cfg = model.pretrained_cfg
    assert (cfg["first_conv"], cfg["classifier"], cfg["num_classes"], cfg["input_size"]) == (
        "features.conv0",
        "classifier",
        5,
        (3, 32, 32),
    )
    assert len(cfg["mean"]) == len(cfg["std"]) == 3
    x = torch.randn(2, 3, 16, 16)
    feats = model.forward_features(x)
    assert feats.shape == (2, model.num_features, 4, 4)
    assert model.forward_head(feats, pre_logits=True).shape == (2, model.num_features)
    assert torch.equal(model.forward_head(feats), model(x))
    assert model.get_classifier() is model.classifier
    model.reset_classifier(7)
    assert model(x).shape == (2, 7) and model.pretrained_cfg["num_classes"] == 7
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


def test_grey_input_channels():
    model = resreg.create_model(TINY, in_chans=1)
    assert model.features.conv0.in_channels == 1
    assert model.pretrained_cfg["input_size"] == (1, 32, 32) and len(model.pretrained_cfg["mean"]) == 1
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 5)


@pytest.mark.parametrize(
    ("name", "out_indices", "channels", "reductions"),
    [
        ("densenet121", None, [64, 256, 512, 1024, 1024], [2, 4, 8, 16, 32]),
        ("densenet121", [1, 3], [256, 1024], [4, 16]),
        ("densenet_bc100_k12", None, [24, 216, 300, 342], [1, 1, 2, 4]),
        ("densenet40_k12", [0, 2], [16, 304], [1, 2]),
    ],
)
def test_features_mode(name, out_indices, channels, reductions):
    model = on_meta(name, features_only=True, out_indices=out_indices)
    assert model.feature_info.channels() == channels and model.feature_info.reduction() == reductions
    assert [info["num_chs"] for info in model.feature_info] == channels
    size = 64 if "121" in name else 32
    outputs = model(torch.empty(2, 3, size, size, device="meta"))
    assert [o.shape for o in outputs] == [
        (2, c, size // r, size // r) for c, r in zip(channels, reductions, strict=True)
    ]
    assert "classifier.weight" not in model.state_dict()


def test_features_mode_every_parameter_gets_a_gradient():
    model = resreg.create_model(TINY, features_only=True, out_indices=[0, 2])
    sum(o.mean() for o in model(torch.randn(2, 3, 16, 16))).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert "norm5" not in dict(model.features.named_children())  # layers past the last tap are dropped


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"compression": 0.0}, r"model.compression: 0.0 is not in \(0, 1\]"),
        ({"features_only": True, "out_indices": [4]}, r"model.out_indices: \[4\] is not .* in 0..3"),
        ({"block_config": []}, r"at least one block"),
        ({"stem": "mnist"}, r"model.stem: 'mnist' is not a valid 'imagenet' \| 'cifar'"),
    ],
)
def test_bad_specs_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resreg.create_model({**TINY, **overrides})


def test_presets_are_declarative_with_paper_meta():
    registry = get_registry()
    names = resreg.list_models("densenet*")
    assert set(IMAGENET) | set(CIFAR) | {"densenet264"} <= set(names)
    for name in CIFAR:
        spec = registry.get("model", name).obj
        assert spec["type"] == "densenet" and spec["meta"]["dataset"] == "cifar10" and spec["meta"]["paper_error"]
        assert spec["help"]


def test_summary_command_shows_stages_parameters_and_macs():
    result = subprocess.run(
        [sys.executable, "-m", "resreg", "summary", "densenet_bc100_k12"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "features.denseblock3" in result.stdout and "769,162" in result.stdout
