"""The ResNet family against the papers (REFERENCE.md) and against timm and torchvision."""

from __future__ import annotations

import itertools

import pytest
import timm
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import resreg
from resreg.errors import ConfigError

PARAMS = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586,
    "resnet56": 853_018, "resnet110": 1_727_962, "resnet1202": 19_421_274,
}  # fmt: skip
# MACs per image, torchvision layout (ImageNet at 224, CIFAR at 32).
MACS = {"resnet18": 1.814e9, "resnet34": 3.664e9, "resnet50": 4.089e9, "resnet101": 7.801e9, "resnet152": 11.514e9,
        "resnet20": 40.6e6, "resnet110": 252.9e6}  # fmt: skip


def count_macs(model: torch.nn.Module) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, *model.pretrained_cfg["input_size"]))
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count_is_exact(name):
    model = resreg.create_model(name)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]


@pytest.mark.parametrize("name", MACS)
def test_macs_within_one_percent(name):
    assert count_macs(resreg.create_model(name)) == pytest.approx(MACS[name], rel=0.01)


def keys_and_shapes(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


@pytest.mark.parametrize(
    ("name", "torchvision_too"),
    [("resnet18", True), ("resnet34", True), ("resnet50", True), ("resnet101", True), ("resnet152", True),
     ("resnet50d", False), ("resnext50_32x4d", True)],
)  # fmt: skip
def test_state_dict_layout_is_timms_and_torchvisions(name, torchvision_too):
    ours = keys_and_shapes(resreg.create_model(name))
    assert ours == keys_and_shapes(timm.create_model(name, pretrained=False))
    if torchvision_too:
        assert ours == keys_and_shapes(getattr(torchvision.models, name)(weights=None))


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet50d", "resnext50_32x4d"])
def test_timm_weights_give_timms_logits(name):
    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False).eval()
    for module in theirs.modules():  # non-trivial BN statistics, so a misplaced BN would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    ours = resreg.create_model(name).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5


def test_torchvision_weights_give_torchvisions_logits():
    torch.manual_seed(0)
    theirs = torchvision.models.resnet34(weights=None).eval()
    ours = resreg.create_model("resnet34").eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-5


def test_stride_on_1x1_is_the_papers_resnet50():
    model = resreg.create_model("resnet50", block={"type": "bottleneck", "stride_on": "1x1"})
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    assert count_macs(model) < 3.9e9  # the paper's 3.8 GFLOPs: the 3x3 runs at the lower resolution


def test_option_a_has_no_parameters_and_zero_pads():
    a = resreg.create_model("resnet20")
    assert a.layer2[0].downsample is not None and not list(a.layer2[0].downsample.parameters())
    x = torch.randn(1, 16, 8, 8)
    out = a.layer2[0].downsample(x)
    assert out.shape == (1, 32, 4, 4)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2]) and not out[:, 16:].any()


def test_shortcut_b_projects_only_where_shapes_change_and_c_everywhere():
    b = resreg.create_model("resnet34", shortcut="B")
    c = resreg.create_model("resnet34", shortcut="C")
    assert b.layer1[0].downsample is None and b.layer2[0].downsample is not None
    assert all(block.downsample is not None for stage in (c.layer1, c.layer4) for block in stage)
    assert sum(p.numel() for p in c.parameters()) > sum(p.numel() for p in b.parameters())


def test_plain_nets_have_no_shortcut_and_the_resnet_parameter_count():
    plain, res = resreg.create_model("plain20"), resreg.create_model("resnet20")
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in res.parameters())
    x = torch.randn(1, 16, 8, 8)
    block = plain.layer1[0].eval()
    with torch.no_grad():  # without a shortcut, zeroing the last BN gives exactly relu(0) = 0
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
        assert not block(x).any()


def test_drop_path_grows_linearly_and_zero_init_last():
    model = resreg.create_model("resnet20", drop_path_rate=0.2, block={"type": "basic", "zero_init_last": True})
    rates = [getattr(b.drop_path, "drop_prob", 0.0) for stage in (model.layer1, model.layer2, model.layer3)
             for b in stage]  # fmt: skip
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert all(later > earlier for earlier, later in itertools.pairwise(rates))
    assert not model.layer1[0].bn2.weight.any()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"block": "botleneck"}, "model.block: unknown block 'botleneck' (did you mean 'bottleneck'?"),
        ({"shortcut": "E"}, "model.shortcut: unknown shortcut 'E'"),
        ({"depths": [1, 1]}, "model.depths: 2 stages ([1, 1]) but widths has 3"),
        ({"depths": [1, -1, 1]}, "model.depths: every stage needs 0 or more blocks"),
        ({"widths": [64, 32, 16], "depths": [1, 1, 1]}, "option A can only add channels"),
        ({"drop_path_rate": "high"}, "model.drop_path_rate: 'high' is not a valid float"),
    ],
)
def test_bad_specs_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        resreg.create_model("resnet20", **overrides)
    assert message in str(info.value)


def test_summary_cli_reports_params_and_macs(capsys):
    from resreg.cli.main import main

    assert main(["summary", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "269,722" in out and "layer3" in out and "64x8x8" in out
    assert main(["summary", "resnet20", "--input-size", "1,32,32"]) == 2


def test_features_mode_matches_timm():
    ours = resreg.create_model("resnet50", features_only=True, out_indices=[1, 3]).eval()
    theirs = timm.create_model("resnet50", features_only=True, out_indices=(1, 3)).eval()
    assert ours.feature_info.channels() == theirs.feature_info.channels() == [256, 1024]
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x), strict=True):
            assert torch.allclose(a, b, atol=1e-5)


def test_preact_projection_reads_the_preactivated_input():
    """He et al. 2016: where a projection is needed, it takes BN-ReLU(x), like the residual branch."""
    block = resreg.create_model("preact_resnet164").layer2[0].eval()
    assert block.downsample is not None
    x = torch.randn(1, block.norm1.num_features, 8, 8)
    with torch.no_grad():
        block.norm1.bias.fill_(-0.5)  # make BN-ReLU(x) clearly different from x
        preact = block.act(block.norm1(x))
        branch = block.conv1(preact)
        branch = block.conv2(block.act(block.norm2(branch)))
        branch = block.conv3(block.act(block.norm3(branch)))
        assert torch.allclose(block(x), branch + block.downsample(preact), atol=1e-5)


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet164"])
def test_grad_checkpointing_gives_the_same_outputs_gradients_and_running_stats(name):
    """timm's set_grad_checkpointing: every block recomputed in backward; nothing observable changes."""
    torch.manual_seed(0)
    spec = {"preset": name, "depths": [2, 2, 2], "drop_path_rate": 0.2}  # drop path: the RNG is replayed too
    plain = resreg.create_model(spec).train()
    checkpointed = resreg.create_model(spec).train()
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.set_grad_checkpointing()
    x = torch.randn(4, 3, 16, 16)
    results = []
    for model in (plain, checkpointed):
        torch.manual_seed(1)
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t, saved=saved: saved.append(t) or t, lambda t: t):
            out = model(x)
        out.logsumexp(1).mean().backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters()}
        stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "batches" in k}
        results.append((out.detach(), grads, stats, len(saved)))
    (out0, g0, s0, n0), (out1, g1, s1, n1) = results
    assert n1 < n0 / 2  # really checkpointed: far fewer tensors kept for backward
    assert torch.allclose(out0, out1, atol=1e-6)
    assert all(torch.allclose(g0[k], g1[k], atol=1e-5) for k in g0)
    assert all(torch.equal(s0[k], s1[k]) for k in s0)  # the recomputation does not count the batch twice
    with torch.no_grad():  # and nothing is checkpointed where nothing is kept anyway
        assert torch.allclose(checkpointed.eval()(x), plain.eval()(x), atol=1e-6)
