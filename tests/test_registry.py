"""The registry: registration, provenance, duplicates, did-you-mean, schemas and spec validation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

import pytest

import resreg
from resreg.errors import ConfigError, RegistryError
from resreg.plugins import PluginInfo, Plugins
from resreg.registry import Registry
from resreg.schema import ref


class Toy:
    """A toy block.

    Args:
        width_factor: multiplies the block's width.
        mode: how the block mixes.
    """

    def __init__(self, in_chs: int, out_chs: int, *, width_factor: float = 1.0, mode: Literal["a", "b"] = "a"):
        self.args = (in_chs, out_chs, width_factor, mode)


def toy_builder(*, block: ref("block") = "toy", depths: list[int] = (1,), num_classes: int = 10) -> SimpleNamespace:
    return SimpleNamespace(block=block, depths=depths, num_classes=num_classes)


def test_schema_comes_from_keyword_only_parameters_with_types_defaults_and_help():
    registry = Registry()
    registry.register("block", "toy", Toy)
    entry = registry.get("block", "toy")
    assert list(entry.params) == ["width_factor", "mode"]  # positional in/out channels are the builder's
    assert entry.params["width_factor"].default == 1.0
    assert entry.params["width_factor"].help == "multiplies the block's width."
    assert entry.params["mode"].type_name() == "'a' | 'b'"
    assert entry.help == "A toy block."


def test_miss_suggests_closest_and_lists_known():
    registry = Registry()
    registry.register("block", "bottleneck", Toy)
    registry.register("block", "basic", Toy)
    with pytest.raises(RegistryError) as err:
        registry.get("block", "botleneck")
    assert str(err.value) == "unknown block 'botleneck' (did you mean 'bottleneck'? known: basic, bottleneck)"


def test_unknown_kind_is_an_error():
    with pytest.raises(RegistryError, match=r"unknown kind 'blok'.*did you mean 'block'"):
        Registry().register("blok", "x", Toy)


def test_duplicate_name_names_both_plugins():
    registry = Registry()
    with registry.registering_for("first", "dist-one"):
        registry.register("block", "toy", Toy)
    with registry.registering_for("second", "dist-two"), pytest.raises(RegistryError) as err:
        registry.register("block", "toy", Toy)
    message = str(err.value)
    assert "'first' (dist-one)" in message and "'second' (dist-two)" in message
    assert registry.get("block", "toy").plugin == "first"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "toy", "width_factr": 2.0}, r"model\.block\.width_factr: unknown argument 'width_factr' of block"),
        ({"type": "toy", "mode": "c"}, r"model\.block\.mode: 'c' is not a valid 'a' \| 'b'"),
        ({"type": "toy", "width_factor": "big"}, r"model\.block\.width_factor: 'big' is not a valid float"),
        ({"type": "toy", "width_factor": True}, r"is not a valid float"),
        ("tyo", r"model\.block: unknown block 'tyo' \(did you mean 'toy'"),
        ({"width_factor": 2.0}, r"model\.block: a block spec is a name or a mapping with 'type:'"),
    ],
)
def test_nested_specs_are_validated_with_key_paths(spec, expected):
    registry = Registry()
    registry.register("block", "toy", Toy)
    registry.register("builder", "toynet", toy_builder)
    with pytest.raises(ConfigError, match=expected):
        registry.validate("builder", {"type": "toynet", "block": spec}, "model")


def test_valid_spec_builds_with_builder_supplied_arguments():
    registry = Registry()
    registry.register("block", "toy", Toy)
    block = registry.build("block", {"type": "toy", "width_factor": 2}, 16, 32, where="model.block")
    assert block.args == (16, 32, 2, "a")  # an int is a valid float


def test_plugin_failure_is_isolated_and_its_entries_removed():
    class Good:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("block", "good", Toy)

    class Bad:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("block", "half", Toy)
            raise RuntimeError("boom")

    plugins = Plugins()
    with pytest.warns(UserWarning, match="'bad' .*disabled: registration failed: RuntimeError: boom"):
        plugins.add(Bad(), PluginInfo("bad", "bad-dist", "1.0", "bad"))
    plugins.add(Good(), PluginInfo("good", "good-dist", "2.0", "good"))
    assert plugins.registry.names("block") == ["good"]
    assert [(i.name, i.status) for i in plugins.infos] == [("bad", "failed"), ("good", "loaded")]
    assert plugins.infos[1].registered == {"block": ["good"]}
    assert plugins.distribution_of("block", "good") == ("good-dist", "2.0")


def test_model_presets_expand_and_take_overrides():
    registry = Registry()
    registry.register("block", "toy", Toy)
    registry.register("builder", "toynet", toy_builder)
    registry.register("model", "toy3", {"type": "toynet", "depths": [3], "help": "three", "meta": {"paper": "x"}})
    built = resreg.create_model("toy3", num_classes=5, registry=registry, block={"type": "toy", "mode": "b"})
    assert (built.block, built.depths, built.num_classes) == ({"type": "toy", "mode": "b"}, [3], 5)
    assert built.resreg_spec == {
        "type": "toynet",
        "depths": [3],
        "num_classes": 5,
        "block": {"type": "toy", "mode": "b"},
    }
    with pytest.raises(ConfigError, match=r"model\.preset: unknown model 'toy4' \(did you mean 'toy3'"):
        resreg.create_model("toy4", registry=registry)
