"""The registry: registration, provenance, duplicates, did-you-mean, schemas and spec validation."""

from __future__ import annotations

import sys
import uuid
import warnings
from types import SimpleNamespace
from typing import Literal

import pytest

import resreg
from resreg.build import BuildContext, build_resolved
from resreg.errors import ConfigError, RegistryError
from resreg.plugins import PluginInfo, Plugins
from resreg.registry import Provider, Registrar, Registry
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


def _plugin(name: str, **components: object) -> object:
    """A plugin object whose registration registers each `kind__name=obj` it is given (`replace=True` for `!`)."""

    class Plugin:
        @resreg.hookimpl
        def resreg_register(self, registry):
            for key, obj in components.items():
                kind, _, entry = key.partition("__")
                registry.register(kind, entry.rstrip("_"), obj, replace=entry.endswith("_"))

    Plugin.__name__ = name
    return Plugin()


def _load(*plugins: tuple[str, bool, object]) -> Plugins:
    """Plugins added in the given order: (name, builtin, plugin object); the refusal warnings are expected."""
    loaded = Plugins()
    for name, builtin, plugin in plugins:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            distribution = "resreg" if builtin else f"resreg-{name}"
            loaded.add(plugin, PluginInfo(name, distribution, "1.0", name, builtin=builtin))
    return loaded


class Other:
    """Another toy block."""


@pytest.mark.parametrize("builtin_first", [True, False])
def test_a_builtin_keeps_its_name_and_only_the_clashing_entry_of_the_other_plugin_is_refused(builtin_first):
    builtin = ("resnet", True, _plugin("resnet", block__basic=Toy))
    squatter = ("aa_dup", False, _plugin("aa_dup", block__basic=Other, block__mine=Other))
    plugins = _load(*([builtin, squatter] if builtin_first else [squatter, builtin]))
    assert plugins.registry.get("block", "basic").obj is Toy
    assert plugins.registry.get("block", "mine").plugin == "aa_dup"  # the rest of the plugin works
    info = {i.name: i for i in plugins.infos}
    assert info["aa_dup"].status == "loaded" and info["aa_dup"].registered == {"block": ["mine"]}
    assert info["aa_dup"].refused == [
        "block 'basic' of plugin 'aa_dup' (resreg-aa_dup) refused: the built-in plugin 'resnet' (resreg) has that "
        "name (register it with replace=True to replace the built-in on purpose)"
    ]
    assert info["resnet"].refused == []


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2)])
def test_two_plugins_registering_one_name_both_lose_it_whatever_the_order(order):
    candidates = [("toy", False, _plugin("toy", block__toy_block=Toy, block__toy2=Toy)),
                  ("zclash", False, _plugin("zclash", block__toy_block=Other)),
                  ("resnet", True, _plugin("resnet", block__basic=Toy))]  # fmt: skip
    plugins = _load(*(candidates[i] for i in order))
    assert ("block", "toy_block") not in plugins.registry
    assert plugins.registry.names("block") == ["basic", "toy2"]
    line = ("block 'toy_block' refused: plugin '{}' ({}) and plugin '{}' ({}) both register it; uninstall one, "
            "or disable it with RESREG_DISABLE_PLUGINS")  # fmt: skip
    first, second = ("toy", "zclash") if order.index(0) < order.index(1) else ("zclash", "toy")
    expected = line.format(first, f"resreg-{first}", second, f"resreg-{second}")
    info = {i.name: i for i in plugins.infos}
    assert info["toy"].refused == info["zclash"].refused == [expected]
    # a third plugin cannot pick the contested name up either
    third = _load(*(candidates[i] for i in order), ("late", False, _plugin("late", block__toy_block=Toy)))
    assert ("block", "toy_block") not in third.registry
    assert "both register it" in {i.name: i for i in third.infos}["late"].refused[0]


def test_a_builtin_is_replaced_only_on_purpose_and_the_report_says_so():
    plugins = _load(("resnet", True, _plugin("resnet", block__basic=Toy)),
                    ("fast", False, _plugin("fast", block__basic_=Other)))  # fmt: skip
    entry = plugins.registry.get("block", "basic")
    assert entry.obj is Other and entry.replaces.plugin == "resnet"
    assert {i.name: i for i in plugins.infos}["fast"].replaces == ["block 'basic' of plugin 'resnet' (resreg)"]


def test_registering_straight_on_a_registry_refuses_a_taken_name_naming_both():
    registry = Registry()
    registry.register("block", "toy", Toy, provider=Provider("first", "dist-one"))
    with pytest.raises(RegistryError, match=r"plugin 'first' \(dist-one\) and plugin 'second' \(dist-two\) both"):
        registry.register("block", "toy", Toy, provider=Provider("second", "dist-two"))


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
    # A module name no other run has imported: the "not imported yet" check then holds in any order,
    # and when one process runs the tests several times (mutmut's clean run, then each mutant).
    module = f"lazy_toy_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(
        'IMPORTED = []\n\nclass Lazy:\n    """Imported late.\n\n    Args:\n        size: a size.\n    """\n\n'
        "    def __init__(self, *, size: int = 3):\n        self.size = size\n\n\nIMPORTED.append(1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)  # removes it again at teardown
    registry = Registry()
    registry.register("block", "lazy", f"{module}:Lazy")
    entry = registry.get("block", "lazy")
    assert entry.help == "Imported late." and not entry.loaded  # read from the source, not imported
    assert module not in sys.modules
    assert registry.build("block", {"type": "lazy", "size": 5}).size == 5 and entry.loaded
    assert sys.modules[module].IMPORTED == [1]
    registry.register("block", "gone", f"{module}:Missing")
    with pytest.raises(ConfigError, match=rf"^block 'gone' of plugin '\?': cannot import {module}:Missing: Attr"):
        registry.build("block", "gone")
    assert entry.error is None and registry.get("block", "gone").error.startswith(f"AttributeError: module '{module}'")
    with pytest.raises(RegistryError, match=r"an import path is 'package\.module:attr'"):
        registry.register("block", "bad", f"{module}.Lazy")


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
    context = BuildContext(registry, member_loader=lambda *_: None)
    model = build_resolved({"type": "net", "block": {"type": "blk", "attn": {"type": "gain", "gain": 2}}}, context)
    assert model.registry is registry and model.block == {"type": "blk", "attn": {"type": "gain", "gain": 2}}
    assert (model.built.attn.channels, model.built.attn.gain) == (4, 2)
    with pytest.raises(ConfigError, match=r"model\.block\.attn: unknown attn 'gian'"):
        build_resolved({"type": "net", "block": {"type": "blk", "attn": "gian"}}, context)


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
    registrar = Registrar(registry, Provider("yaml", "resreg-yaml"))
    registrar.register_presets("model", "yaml_presets_plugin")
    assert registry.names("model") == ["tiny", "tiny_b"]  # the anchor `_common` is not a preset
    assert registry.get("model", "tiny_b").obj == {"preset": "resnet20", "depths": [1, 1, 1], "shortcut": "B"}
    assert registry.get("model", "tiny").plugin == "yaml"
    with pytest.raises(RegistryError, match=r"yaml_presets_plugin/broken.yaml: presets are a mapping of name -> spec"):
        registrar.register_presets("model", "yaml_presets_plugin", "broken.yaml")


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


def test_an_error_raised_in_a_components_own_code_names_its_spec_path():
    def strict(channels: int, *, reduction: int = 4) -> object:
        """An attention that checks its own arguments.

        Args:
            reduction: must divide the channels.
        """
        if channels % reduction:
            raise ConfigError(f"reduction {reduction} does not divide {channels} channels")
        return object()

    class Holder:
        """A block that builds its attention."""

        def __init__(self, in_chs: int, *, attn: ref("attn") = None) -> None:
            self.attn = attn(in_chs)

    registry = Registry()
    registry.register("attn", "strict", strict)
    registry.register("block", "holder", Holder)
    with pytest.raises(ConfigError, match=r"^block\.attn: reduction 5 does not divide 16 channels$"):
        registry.build("block", {"type": "holder", "attn": {"type": "strict", "reduction": 5}}, 16, where="block")


def test_the_concepts_page_lists_every_kind_from_the_registry(monkeypatch):
    from pathlib import Path

    from resreg.registry import DEFAULT_KINDS

    docs = Path(__file__).resolve().parents[1] / "docs"
    monkeypatch.syspath_prepend(str(docs))
    import gen_kinds  # docs/gen_kinds.py, run by mkdocs (docs/gen_pages.py)

    page = gen_kinds.fill((docs / "concepts.md").read_text())
    assert gen_kinds.MARKER not in page
    for kind, help in DEFAULT_KINDS.items():
        assert f"| `{kind}` | {help} |" in page
    assert "| `attn` | attention on a block's residual branch" in page and "| `channels` |" in page


def test_a_component_that_breaks_its_kinds_contract_is_refused_when_registered():
    class PositionalKernel:
        """A block whose kernel size a spec could never set."""

        def __init__(self, in_chs, planes, stride=1, shortcut=None, drop_path_rate=0.0, kernel_size=3): ...

    class StrayDoc:
        """A block documenting what it does not take.

        Args:
            kernal_size: a typo.
        """

        def __init__(self, in_chs: int, *, kernel_size: int = 3): ...

    class NothingToZero(Toy):
        """Takes zero_init_last but names nothing to zero."""

        def __init__(self, in_chs: int, out_chs: int, *, zero_init_last: bool = False): ...

    registry, author = Registry(), Provider("cnx", "resreg-cnx")
    expected = {
        PositionalKernel: r"parameter 'kernel_size' is positional, but builders pass only in_chs, planes, stride, "
        r"shortcut, drop_path_rate by position; make it keyword-only",
        StrayDoc: r"its docstring's Args: documents 'kernal_size', which is no parameter",
        NothingToZero: r"it takes zero_init_last but names nothing to zero: set the class attribute `zero_init`",
    }
    for block, message in expected.items():
        with pytest.raises(RegistryError, match=rf"^block 'x' of plugin 'cnx' \(resreg-cnx\) refused: {message}"):
            registry.register("block", "x", block, provider=author)
    NothingToZero.zero_init = "mlp.fc2"
    registry.register("block", "x", NothingToZero, provider=author)  # a dotted path will do
    assert registry.names("block") == ["x"]


def test_resreg_plugins_reports_a_replaced_builtin_and_a_refused_entry(cli, monkeypatch):
    import resreg.plugins

    plugins = _load(("resnet", True, _plugin("resnet", block__basic=Toy, block__bottleneck=Toy)),
                    ("fast", False, _plugin("fast", block__basic_=Other, block__bottleneck=Other)))  # fmt: skip
    monkeypatch.setattr(resreg.plugins, "_plugins", plugins)
    out = cli("plugins").out
    assert "fast  [loaded]  resreg-fast 1.0  (fast)\n    block: basic\n" in out
    assert "    replaces: block 'basic' of plugin 'resnet' (resreg)\n" in out
    assert "    refused: block 'bottleneck' of plugin 'fast' (resreg-fast) refused: the built-in plugin 'resnet'" in out
