"""Ensembles: combiners against hand-computed values, members from every kind of source, errors."""

from __future__ import annotations

import math

import pytest
import torch

import resreg
from resreg.errors import ConfigError
from resreg.models import load_model
from resreg.plugins import get_registry
from resreg.weights import save_model

SMALL = {"preset": "resnet20", "depths": [1, 1, 1]}


def combine(name, logits, **args):
    return get_registry().build("combiner", {"type": name, **args})([torch.tensor(t) for t in logits])


LOGITS = [[[2.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 3.0, 0.0]]]


def softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def test_mean_logits_by_hand():
    assert combine("mean_logits", LOGITS).tolist()[0] == pytest.approx([2 / 3, 4 / 3, 0.0])


def test_mean_probs_by_hand_returns_log_of_the_average():
    expected = [sum(softmax(m[0])[k] for m in LOGITS) / 3 for k in range(3)]
    assert combine("mean_probs", LOGITS).exp().tolist()[0] == pytest.approx(expected, rel=1e-6)


def test_weighted_by_hand():
    out = combine("weighted", LOGITS, weights=[2, 1, 1], over="logits")
    assert out.tolist()[0] == pytest.approx([1.0, 1.0, 0.0])
    probs = combine("weighted", LOGITS, weights=[1, 0, 0]).exp()
    assert probs.tolist()[0] == pytest.approx(softmax(LOGITS[0][0]), rel=1e-6)


def test_majority_vote_counts_votes_and_breaks_ties_by_probability():
    # votes: class 0, class 1, class 1 -> class 1 wins although member 0 is the most confident
    assert combine("majority_vote", LOGITS).argmax(-1).item() == 1
    tie = [[[5.0, 0.0]], [[0.0, 1.0]]]  # one vote each: the surer member (class 0) decides
    assert combine("majority_vote", tie).argmax(-1).item() == 0
    assert combine("majority_vote", tie).exp().sum().item() == pytest.approx(1.0)


def test_an_ensemble_of_identical_members_gives_the_members_output(tmp_path):
    torch.manual_seed(0)
    member = resreg.create_model(SMALL).eval()
    path = save_model(member, tmp_path / "member.safetensors")
    x = torch.randn(4, 3, 32, 32)
    for name in ("mean_logits", "mean_probs"):
        ensemble = resreg.create_model({"type": "ensemble", "members": [str(path)] * 3, "combiner": name}).eval()
        with torch.no_grad():
            expected = member(x) if name == "mean_logits" else member(x).log_softmax(-1)
            assert torch.allclose(ensemble(x), expected, atol=1e-5)


def test_members_of_different_architectures_and_input_sizes_and_round_trip(tmp_path):
    torch.manual_seed(0)
    other = {"model": {"preset": "resnet32", "depths": [1, 1, 1]}, "input_size": [16, 16]}
    spec = {"type": "ensemble", "combiner": "mean_probs", "members": [SMALL, other]}
    ensemble = resreg.create_model(spec).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        members = ensemble.forward_members(x)
        small = torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", antialias=True)
        assert torch.allclose(members[1], ensemble.members[1](small))
    # One file holds every member; it rebuilds with no access to the original sources.
    path = save_model(ensemble, tmp_path / "ensemble.safetensors")
    again = load_model(path).eval()
    with torch.no_grad():
        assert torch.equal(again(x), ensemble(x))


def test_run_directory_members(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: resnet20\n")
    member = resreg.create_model(SMALL).eval()
    save_model(member, run / "model.safetensors")
    ensemble = resreg.create_model({"type": "ensemble", "members": [str(run)]}).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ensemble.forward_members(x)[0], member(x))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"members": [SMALL, "/no/such/model.safetensors"]}, "model.members.1: '/no/such/model.safetensors'"),
        # a member's own key path goes under the member's: one path, not `model.members.1: model.block: ...`
        ({"members": [SMALL, {**SMALL, "block": "botleneck"}]}, "model.members.1.block: unknown block 'botleneck'"),
        ({"members": [{"type": "ensemble", "members": [{**SMALL, "depths": "x"}]}]}, "members.0.members.0.depths"),
        ({"members": [SMALL, {**SMALL, "num_classes": 5}]}, "every member must predict the same classes"),
        ({"members": [SMALL], "combiner": "median"}, "model.combiner: unknown combiner 'median'"),
        ({"members": []}, "non-empty list of members"),
        ({"members": [SMALL], "combiner": {"type": "weighted", "weights": [-1]}}, "non-negative weights"),
    ],
)
def test_bad_ensembles_get_clear_errors(spec, message):
    with pytest.raises(ConfigError) as info:
        resreg.create_model({"type": "ensemble", **spec})
    assert message in str(info.value)
