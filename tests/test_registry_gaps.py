"""Registry and plugin-loading behaviour that mutation testing left unpinned (docs/testing.md, "Registry and
plugins gaps"): a kind a plugin adds, components taking `**kwargs`, builder keyword arguments, the wording of
errors a user reads (a preset used as a component, an argument missing from a long list, a failing
component's note), and the order in which two distributions of one plugin name are tried."""

from __future__ import annotations

import uuid

import pytest
import torch
from plugin_site import add_plugin

import resreg
import resreg.plugins
from resreg.errors import ConfigError
from resreg.plugins import Plugins, loaded_plugin_infos
from resreg.registry import DEFAULT_KINDS, Origin, Provider, Registry, origin_of
from resreg.schema import ref

MINE = Provider("mine", "resreg-mine")


def focal(*, gamma: float = 2.0, **extra: object) -> dict[str, object]:
    """A loss taking any keyword besides its own (the options of a wrapped library, say)."""
    return {"gamma": gamma, **extra}


class Shift(torch.nn.Module):
    """A block whose builder passes the stride by keyword."""

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *, scale: float = 1.0) -> None:
        super().__init__()
        self.in_chs, self.planes, self.stride, self.scale = in_chs, planes, stride, scale


def test_a_plugin_registrar_can_add_a_kind_and_register_components_of_it():
    class Losses:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("block", "shift", Shift)
            registry.add_kind("block", "a kind that exists already is left as it is")
            registry.add_kind("loss", "a training loss: (logits, labels) -> scalar")
            registry.register("loss", "focal", focal)

    plugins, info, caught = add_plugin(Losses(), "losses")
    assert (info.status, info.error, caught) == ("loaded", "", [])
    registry = plugins.registry
    assert registry.kinds["loss"] == "a training loss: (logits, labels) -> scalar"
    assert registry.kinds["block"] == DEFAULT_KINDS["block"]
    assert info.registered == {"block": ["shift"], "loss": ["focal"]}
    assert ("loss", "focal") in registry and ("block", "shift") in registry
    assert registry.build("loss", {"type": "focal", "gamma": 3.0}) == {"gamma": 3.0}


def test_a_component_taking_any_keyword_still_checks_each_argument_it_names():
    registry = Registry()
    registry.register("combiner", "focal", focal)
    # the unknown key goes to **extra; the one after it is still checked
    with pytest.raises(ConfigError) as error:
        registry.validate("combiner", {"type": "focal", "label_weights": [1, 2], "gamma": "high"}, where="loss")
    assert str(error.value) == "loss.gamma: 'high' is not a valid float (argument of combiner 'focal'; default 2.0)"
    assert registry.build("combiner", {"type": "focal", "label_weights": [1, 2], "gamma": 1.0}) == {
        "gamma": 1.0,
        "label_weights": [1, 2],
    }


def test_a_builders_keyword_arguments_reach_the_component():
    registry = Registry()
    registry.register("block", "shift", Shift)
    block = registry.build("block", {"type": "shift", "scale": 0.5}, 8, 16, where="model.block", stride=2)
    assert (block.in_chs, block.planes, block.stride, block.scale) == (8, 16, 2, 0.5)
    made = registry.partial("block", "shift", where="model.block")(4, planes=6, stride=3)
    assert (made.in_chs, made.planes, made.stride, made.scale) == (4, 6, 3, 1.0)


def test_an_unknown_argument_among_more_than_forty_is_named_once_with_the_count():
    names = [f"a{i:02}" for i in range(41)]
    scope: dict[str, object] = {}
    exec(f"def wide(*, {', '.join(f'{n}: int = 0' for n in names)}): ...", scope)
    registry = Registry()
    registry.register("combiner", "wide", scope["wide"])
    with pytest.raises(ConfigError) as error:
        registry.validate("combiner", {"type": "wide", "zz": 1}, where="ensemble.combiner")
    listed = ", ".join(names[:40])
    assert str(error.value) == (
        f"ensemble.combiner.zz: unknown argument 'zz' of combiner 'wide' (valid: {listed}, ... (41 in all))"
    )


def test_the_component_is_named_after_an_unknown_argument_that_holds_a_parenthesis():
    def wide(*, gain: float = 1.0) -> float: ...

    registry = Registry()
    registry.register("combiner", "wide", wide)
    with pytest.raises(ConfigError) as error:
        registry.validate("combiner", {"type": "wide", "gain (dB)": 3}, where="loss")
    assert str(error.value) == (
        "loss.gain (dB): unknown argument 'gain (dB)' of combiner 'wide' (did you mean 'gain'? valid: gain)"
    )


def test_a_spec_without_a_type_lists_the_names_of_its_kind():
    """`data.limit=256` where no data set is named: the spec has arguments but no `type:`."""

    def wide(*, gain: float = 1.0) -> float: ...

    registry = Registry()
    registry.register("combiner", "wide", wide)
    registry.register("combiner", "narrow", wide)
    with pytest.raises(ConfigError) as error:
        registry.validate("combiner", {"gain": 3}, where="model.combiner")
    assert str(error.value) == (
        "model.combiner: a combiner spec is a name or a mapping with 'type:', got {'gain': 3} (known: narrow, wide)"
    )
    with pytest.raises(ConfigError) as error:
        registry.validate("converter", {"gain": 3})
    assert str(error.value).endswith("got {'gain': 3} (known: none)")


@pytest.mark.parametrize("where", ["model", ""])
def test_a_preset_given_arguments_as_if_it_were_a_component_is_one_line(where):
    registry = Registry()
    registry.register("model", "tiny", {"builder": "resnet", "depths": [1, 1]})
    with pytest.raises(ConfigError) as error:
        registry.validate("model", {"type": "tiny", "depths": [2, 2]}, where=where)
    assert str(error.value) == f"{where}: model 'tiny' is a preset, not a component with arguments".removeprefix(": ")


def test_section_options_are_checked_by_name_type_and_presence_and_open_ones_take_any_key():
    def strict(*, lr: float, momentum: float = 0.9) -> None: ...

    def open_ended(*, lr: float = 0.1, **rest: object) -> None: ...

    registry = Registry()
    with pytest.raises(ConfigError) as error:
        registry.check_args(strict, {"lr": 0.1, "momentun": 0.8}, "train.optimizer", "optimizer option")
    assert str(error.value) == (
        "train.optimizer.momentun: unknown argument 'momentun' of optimizer option "
        "(did you mean 'momentum'? valid: lr, momentum)"
    )
    with pytest.raises(ConfigError) as error:
        registry.check_args(strict, {"momentum": 0.8}, "train.optimizer", "optimizer option")
    assert str(error.value) == "train.optimizer: optimizer option needs lr"
    registry.check_args(strict, {"lr": 0.1}, "train.optimizer", "optimizer option")
    registry.check_args(open_ended, {"nesterov": True, "betas": [0.9, 0.99]}, "train.optimizer", "optimizer option")
    with pytest.raises(ConfigError) as error:
        registry.check_args(open_ended, {"nesterov": True, "lr": "fast"}, "train.optimizer", "optimizer option")
    assert str(error.value) == (
        "train.optimizer.lr: 'fast' is not a valid float (argument of optimizer option; default 0.1)"
    )


class Gated:
    """An attention that refuses its own argument when built (a check only its code can make)."""

    def __init__(self, channels: int, *, gain: float = 1.0) -> None:
        if gain <= 0:
            raise ConfigError(f"gain={gain} must be positive")


class Attended:
    """A block that builds its attention."""

    def __init__(self, *, attn: ref("attn") = None) -> None:
        attn(8)


@pytest.mark.parametrize("where", ["model.block", ""])
def test_an_error_a_nested_component_raises_names_the_path_of_its_spec(where):
    registry = Registry()
    registry.register("attn", "gated", Gated)
    registry.register("block", "attended", Attended)
    with pytest.raises(ConfigError) as error:
        registry.build("block", {"type": "attended", "attn": {"type": "gated", "gain": -1.0}}, where=where)
    assert str(error.value) == f"{where}.attn: gain=-1.0 must be positive".removeprefix(".")


@pytest.mark.parametrize(("where", "building"), [("model.block", "model.block"), ("", "block")])
def test_an_error_inside_a_component_notes_its_spec_path_and_plugin(where, building):
    class Fails(Shift):
        def __init__(self, in_chs: int, planes: int, stride: int = 1) -> None:
            raise ValueError("odd channel count")

    registry = Registry()
    registry.register("block", "fails", Fails, provider=MINE)
    with pytest.raises(ValueError, match="odd channel count") as error:
        registry.build("block", "fails", 3, 5, where=where)
    assert error.value.__notes__ == [f"while building {building}: block 'fails' of plugin 'mine' (resreg-mine)"]


def test_the_origin_of_a_built_module_and_of_objects_that_hold_no_attributes():
    registry = Registry()
    registry.register("block", "shift", Shift, provider=MINE)
    assert origin_of(registry.build("block", "shift", 4, 4)) == Origin("block", "shift", MINE)
    assert origin_of(Shift(4, 4)) is None
    assert origin_of(3) is None and origin_of((1, 2)) is None  # no __dict__: nothing marked them


def _distribution(site, dist: str, group: str, plugin: str, module: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{plugin} = {module}\n")


def test_two_distributions_of_one_plugin_name_load_the_first_by_name_whatever_the_path_order(tmp_path, monkeypatch):
    group, tag = f"resreg_test_{uuid.uuid4().hex}", uuid.uuid4().hex[:8]
    for dist in ("aaa-first", "zzz-last"):
        site = tmp_path / dist
        module = f"{dist.replace('-', '_')}_{tag}"
        _distribution(site, dist, group, "dup", module)
        (site / f"{module}.py").write_text("")
    # zzz-last's folder comes first on sys.path, so importlib.metadata discovers it first
    monkeypatch.syspath_prepend(str(tmp_path / "aaa-first"))
    monkeypatch.syspath_prepend(str(tmp_path / "zzz-last"))
    plugins = Plugins()
    with pytest.warns(resreg.plugins.PluginWarning, match="'dup' \\(zzz-last\\) disabled: another distribution"):
        plugins.load_entry_points(group)
    assert [(i.distribution, i.status) for i in plugins.infos] == [("aaa-first", "loaded"), ("zzz-last", "failed")]


def test_plugin_infos_are_empty_before_loading_and_a_copy_after(monkeypatch):
    monkeypatch.setattr(resreg.plugins, "_plugins", None)
    assert loaded_plugin_infos() == []
    plugins, info, _ = add_plugin(object(), "empty")
    monkeypatch.setattr(resreg.plugins, "_plugins", plugins)
    infos = loaded_plugin_infos()
    infos.clear()
    assert loaded_plugin_infos() == [info]
