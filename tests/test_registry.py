"""The registry: registration, provenance, duplicates, did-you-mean, schemas and spec validation."""

from __future__ import annotations

import sys
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


class Base:
    """A base component.

    Args:
        depth: how deep, a description long enough that it goes on
            over a second line and a third
            one, all of which are kept.
        scale: a short one.
    """

    def __init__(self, channels: int, *, depth: int = 2, scale: float = 1.0) -> None:
        self.channels, self.depth, self.scale = channels, depth, scale


class Forwarding(Base):
    """A subclass that adds an argument and forwards the rest.

    Args:
        extra: its own argument.
    """

    def __init__(self, channels: int, *, extra: bool = False, **kwargs) -> None:
        super().__init__(channels, **kwargs)
        self.extra = extra


def test_schema_collects_parent_keyword_arguments_through_forwarded_kwargs():
    registry = Registry()
    registry.register("block", "fwd", Forwarding)
    entry = registry.get("block", "fwd")
    assert list(entry.params) == ["extra", "depth", "scale"]
    assert not entry.open_keywords  # the chain ends at Base, which takes no **kwargs
    assert entry.params["scale"].help == "a short one." and entry.params["extra"].help == "its own argument."
    with pytest.raises(ConfigError, match=r"unknown argument 'dpeth' .*did you mean 'depth'"):
        registry.validate("block", {"type": "fwd", "dpeth": 3})
    built = registry.build("block", {"type": "fwd", "depth": 5, "extra": True}, 8)
    assert (built.channels, built.depth, built.extra) == (8, 5, True)


def test_argument_help_keeps_its_continuation_lines():
    registry = Registry()
    registry.register("block", "b", Base)
    assert registry.get("block", "b").params["depth"].help == (
        "how deep, a description long enough that it goes on over a second line and a third one, all of which are kept."
    )


def test_registered_by_import_path_imports_only_when_used(tmp_path, monkeypatch):
    (tmp_path / "lazy_toy.py").write_text(
        'IMPORTED = []\n\nclass Lazy:\n    """Imported late.\n\n    Args:\n        size: a size.\n    """\n\n'
        "    def __init__(self, *, size: int = 3):\n        self.size = size\n\n\nIMPORTED.append(1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.register("block", "lazy", "lazy_toy:Lazy")
    entry = registry.get("block", "lazy")
    assert entry.help == "Imported late." and not entry.loaded  # read from the source, not imported
    assert "lazy_toy" not in sys.modules
    assert registry.build("block", {"type": "lazy", "size": 5}).size == 5 and entry.loaded
    assert sys.modules["lazy_toy"].IMPORTED == [1]
    registry.register("block", "gone", "lazy_toy:Missing")
    with pytest.raises(RegistryError, match=r"block 'gone' of plugin '\?': cannot import lazy_toy:Missing"):
        registry.build("block", "gone")
    with pytest.raises(RegistryError, match=r"an import path is 'package\.module:attr'"):
        registry.register("block", "bad", "lazy_toy.Lazy")


def test_nested_specs_reach_a_component_as_factories_and_builders_get_the_registry():
    class Attn:
        def __init__(self, channels: int, *, gain: float = 1.0) -> None:
            self.channels, self.gain = channels, gain

    class Block:
        def __init__(self, channels: int, *, attn: ref("attn") = None) -> None:
            self.attn = attn(channels) if attn is not None else None

    def net(registry: Registry, /, *, block: ref("block") = "blk") -> SimpleNamespace:
        return SimpleNamespace(registry=registry, block=block, built=registry.build("block", block, 4))

    registry = Registry()
    registry.register("attn", "gain", Attn)
    registry.register("block", "blk", Block)
    registry.register("builder", "net", net)
    model = registry.build_model({"type": "net", "block": {"type": "blk", "attn": {"type": "gain", "gain": 2}}})
    assert model.registry is registry and model.block == {"type": "blk", "attn": {"type": "gain", "gain": 2}}
    assert (model.built.attn.channels, model.built.attn.gain) == (4, 2)
    with pytest.raises(ConfigError, match=r"model\.block\.attn: unknown attn 'gian'"):
        registry.build_model({"type": "net", "block": {"type": "blk", "attn": "gian"}})


WRAPPER = (
    "import contextlib, io, sys\n"
    "from resreg.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
    "    try:\n"
    "        status = main(sys.argv[1:])\n"
    "    except SystemExit as exc:  # --help\n"
    "        status = exc.code\n"
    "print(status, len(out.getvalue()), sorted(m for m in ('torch', 'timm', 'numpy') if m in sys.modules))\n"
)


@pytest.mark.parametrize("argv", [["list"], ["list", "blocks"], ["list", "models"], ["plugins"], ["--help"]])
def test_listing_commands_do_not_import_torch(argv):
    """Start-up time (issue 17): components are registered by import path, so listing them imports no torch."""
    import subprocess

    result = subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, timeout=300)
    status, printed, heavy = result.stdout.split(" ", 2)
    assert (status, heavy.strip()) == ("0", "[]"), result.stdout + result.stderr
    assert int(printed) > 100  # it did list something


def test_verbose_listing_imports_what_it_shows():
    import subprocess

    result = subprocess.run([sys.executable, "-c", WRAPPER, "list", "blocks", "-v"], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.stdout.startswith("0 ") and "'torch'" in result.stdout  # the schemas are read from the classes


def test_presets_declared_in_a_packages_yaml_file_register_without_their_anchors(tmp_path, monkeypatch):
    package = tmp_path / "yaml_presets_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "presets.yaml").write_text(
        "_common: &common {preset: resnet20, depths: [1, 1, 1]}\n"
        "tiny: {<<: *common, help: one block a stage}\n"
        "tiny_b: {<<: *common, shortcut: B}\n"
    )
    (package / "broken.yaml").write_text("- not\n- a mapping\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.register_presets("model", "yaml_presets_plugin")
    assert registry.names("model") == ["tiny", "tiny_b"]  # the anchor `_common` is not a preset
    assert registry.get("model", "tiny_b").obj == {"preset": "resnet20", "depths": [1, 1, 1], "shortcut": "B"}
    with pytest.raises(RegistryError, match=r"yaml_presets_plugin/broken.yaml: presets are a mapping of name -> spec"):
        registry.register_presets("model", "yaml_presets_plugin", "broken.yaml")


def test_model_presets_follow_their_chain_and_refuse_cycles_and_non_mappings_in_one_line():
    from resreg.models import expand_presets

    registry = Registry()
    registry.register("model", "base", {"type": "resnet", "depths": [1, 1], "help": "h", "meta": {"paper": "p"}})
    registry.register("model", "wide", {"preset": "base", "widths": [8, 16]})
    registry.register("model", "loop_a", {"preset": "loop_b"})
    registry.register("model", "loop_b", {"preset": "loop_a"})
    registry.register("model", "not_a_spec", len)  # a callable, not a spec mapping
    spec = expand_presets({"preset": "wide", "depths": [2, 2]}, registry)
    assert spec == {"type": "resnet", "depths": [2, 2], "widths": [8, 16]}  # given values on top, help/meta dropped
    with pytest.raises(ConfigError, match=r"^model: model preset cycle loop_a -> loop_b -> loop_a$"):
        expand_presets("loop_a", registry)
    with pytest.raises(ConfigError, match=r"^model.preset: model 'not_a_spec' of plugin .* is not a preset mapping$"):
        expand_presets("not_a_spec", registry)
    with pytest.raises(ConfigError, match=r"^model.preset: .*did you mean 'wide'"):
        expand_presets("wid", registry)
