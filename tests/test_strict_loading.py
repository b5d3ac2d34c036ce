"""Strict loading's one-line errors, word for word, on a small real module: the cases mutation testing
(docs/testing.md) found unchecked by tests/test_weights.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resreg.errors import WeightsError
from resreg.weights.strict import load_state_dict_strict


def model_with_state() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    return model, {k: v.clone() for k, v in model.state_dict().items()}


def error_of(model: nn.Module, state: dict[str, torch.Tensor], **kwargs) -> str:
    with pytest.raises(WeightsError) as info:
        load_state_dict_strict(model, state, **kwargs)
    return str(info.value)


def test_the_source_is_named_weights_unless_given():
    model, state = model_with_state()
    del state["0.bias"]
    assert error_of(model, state).startswith("weights: weights do not fit the model: 1 missing (0.bias)")
    assert error_of(model, state, where="a.safetensors").startswith("a.safetensors: weights do not fit")


def test_problems_are_joined_by_semicolons_and_counted():
    model, state = model_with_state()
    del state["0.bias"]
    state["extra"] = torch.zeros(1)
    state["1.weight"] = torch.zeros(5)
    message = error_of(model, state)
    assert message == (
        "weights: weights do not fit the model: 1 missing (0.bias); 1 unexpected (extra); "
        "1 shape mismatch (1.weight (5,) vs model (4,))"
    )


@pytest.mark.parametrize(("extra", "suffix"), [(3, "u0, u1, u2)"), (4, "u0, u1, u2, ... (1 more))"),
                                               (6, "u0, u1, u2, ... (3 more))")])  # fmt: skip
def test_at_most_three_keys_are_named_and_the_rest_counted(extra, suffix):
    model, state = model_with_state()
    state |= {f"u{i}": torch.zeros(1) for i in range(extra)}
    assert error_of(model, state).endswith(f"{extra} unexpected ({suffix}")


@pytest.mark.parametrize("prefix", ["module.", "model.backbone."])
def test_a_wrapper_prefix_is_named_with_the_option_that_strips_it(prefix):
    model, state = model_with_state()
    wrapped = {prefix + k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    message = error_of(model, wrapped, where="w.safetensors")
    assert message == (
        f"w.safetensors: weights do not fit the model: every key starts with {prefix!r} (saved from a wrapper "
        f"module?), and without it they fit exactly; strip it with pretrained_strip_prefix: {prefix!r} "
        f"(Python: strip_prefix={prefix!r})"
    )


def test_a_shared_prefix_that_does_not_make_them_fit_is_not_suggested():
    model, state = model_with_state()
    wrapped = {"module." + k: v for k, v in state.items() if k != "0.bias"}  # stripping leaves one missing
    message = error_of(model, wrapped)
    assert "every key starts with" not in message and "missing" in message


def test_loads_without_the_batch_norm_step_counter_and_keeps_the_models():
    model, state = model_with_state()
    state = {k: v + 1 if v.is_floating_point() else v for k, v in state.items() if "num_batches_tracked" not in k}
    model[1].num_batches_tracked.fill_(7)
    load_state_dict_strict(model, state)
    assert torch.equal(model[0].weight, state["0.weight"]) and model[1].num_batches_tracked.item() == 7


def test_skipped_prefixes_are_left_out_on_both_sides():
    model, state = model_with_state()
    state = {k: v for k, v in state.items() if not k.startswith("1.")}
    state["1.weight"] = torch.zeros(9)  # a classifier of another size: skipped, so neither missing nor mismatched
    load_state_dict_strict(model, state, skip=["1"])
    assert torch.equal(model[0].bias, state["0.bias"])


# --- the values: finite, and of a dtype the model's tensor can hold ----------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_are_refused_naming_the_first_tensor_that_holds_them(bad):
    model, state = model_with_state()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state["0.bias"][1] = bad
    state["1.running_var"][0] = bad  # a later tensor: the first one in file order is named
    message = error_of(model, state, where="w.safetensors")
    assert message == (
        "w.safetensors: 0.bias holds non-finite values (NaN or infinity); every output of the model would be NaN, "
        "so these weights are refused"
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing was loaded


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_integer_and_bool_weights_are_refused(dtype):
    model, state = model_with_state()
    state["0.weight"] = torch.ones_like(state["0.weight"], dtype=dtype)
    message = error_of(model, state, where="w.safetensors")
    kept = str(dtype).removeprefix("torch.")
    assert message == f"w.safetensors: 0.weight holds {kept} values where the model keeps float32; refused as weights"


def test_float_weights_of_another_precision_are_converted_and_the_integer_step_counter_loads():
    model, state = model_with_state()
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v + 5 for k, v in state.items()}
    load_state_dict_strict(model, state)
    assert model[0].weight.dtype == torch.float32 and torch.equal(model[0].weight, state["0.weight"].float())
    assert model[1].num_batches_tracked.item() == 5


def test_a_float_step_counter_is_refused_where_the_model_counts_in_integers():
    model, state = model_with_state()
    state["1.num_batches_tracked"] = torch.tensor(3.0)
    assert error_of(model, state) == (
        "weights: 1.num_batches_tracked holds float32 values where the model keeps int64; refused as weights"
    )


# --- adapt_state_dict: in_chans and num_classes ------------------------------------------------------
def classifier_model(in_chans: int = 1, num_classes: int = 5, kernel: int = 7) -> nn.Module:
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(in_chans, 4, kernel, bias=False))
    model.add_module("fc", nn.Linear(4, num_classes))
    model.pretrained_cfg = {"first_conv": "conv1", "classifier": "fc"}
    return model


def test_rgb_filters_are_summed_for_one_channel_and_repeated_and_rescaled_for_more():
    from resreg.weights.adapt import adapt_state_dict

    rgb = classifier_model(in_chans=3).state_dict()
    grey, skip = adapt_state_dict(classifier_model(in_chans=1), rgb)
    assert skip == [] and torch.allclose(grey["conv1.weight"], rgb["conv1.weight"].sum(1, keepdim=True))
    four, _ = adapt_state_dict(classifier_model(in_chans=4), rgb)
    expected = rgb["conv1.weight"][:, [0, 1, 2, 0]] * 3 / 4  # timm's rule: repeat, then keep the activation scale
    assert torch.allclose(four["conv1.weight"], expected)


def test_only_the_input_channel_count_is_adapted():
    from resreg.weights.adapt import adapt_state_dict

    five_by_five = classifier_model(in_chans=3, kernel=5).state_dict()
    with pytest.raises(WeightsError) as info:
        adapt_state_dict(classifier_model(in_chans=1, kernel=7), five_by_five)
    assert str(info.value) == (
        "weights: conv1.weight has shape (4, 3, 5, 5) and the model (4, 1, 7, 7); "
        "only the input channel count can be adapted"
    )


def test_another_class_count_needs_skip_classifier():
    from resreg.weights.adapt import adapt_state_dict

    ten = classifier_model(num_classes=10).state_dict()
    with pytest.raises(WeightsError) as info:
        adapt_state_dict(classifier_model(num_classes=5), ten)
    assert str(info.value) == (
        "weights: the weights have 10 classes and the model 5 (fc.weight); to load everything but the "
        "classifier 'fc', pass skip_classifier=True (config: model.pretrained_skip_classifier: true)"
    )
    assert adapt_state_dict(classifier_model(num_classes=5), ten, skip_classifier=True)[1] == ["fc"]


def test_a_model_without_pretrained_cfg_or_without_the_first_conv_in_the_file_is_left_alone():
    from resreg.weights.adapt import adapt_state_dict

    plain = nn.Sequential(nn.Conv2d(1, 4, 3))
    state = {"0.weight": torch.zeros(4, 3, 3, 3)}
    assert adapt_state_dict(plain, state) == (state, [])
    partial = {k: v for k, v in classifier_model(in_chans=3).state_dict().items() if k != "conv1.weight"}
    adapted, skip = adapt_state_dict(classifier_model(in_chans=1), partial)
    assert adapted.keys() == partial.keys() and skip == []  # strict loading then names conv1.weight missing


def test_the_prefix_of_a_one_module_model_and_of_files_with_step_counters_is_found():
    bare = nn.Conv2d(3, 4, 3, bias=False)  # one key: the prefix is everything before its last part
    message = error_of(bare, {"module.weight": bare.weight.detach().clone()})
    assert "every key starts with 'module.'" in message
    model, state = model_with_state()  # the counters saved too: the stripped keys are exactly the model's
    assert "every key starts with 'module.'" in error_of(model, {"module." + k: v for k, v in state.items()})


def test_filters_of_another_base_channel_count_are_repeated_from_that_count():
    from resreg.weights.adapt import adapt_state_dict

    two = classifier_model(in_chans=2).state_dict()
    four, _ = adapt_state_dict(classifier_model(in_chans=4), two)
    assert torch.allclose(four["conv1.weight"], two["conv1.weight"][:, [0, 1, 0, 1]] * 2 / 4)
