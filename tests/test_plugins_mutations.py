"""Plugin loading behaviour that mutation testing found unpinned in-process (docs/testing.md, "Mutation
testing"): entry points read from real `.dist-info` folders (their order, duplicates, disabling, a
plugin that fails at import) and each way `Plugins.add` turns a broken plugin into one warning."""

from __future__ import annotations

import uuid

import pytest
from plugin_site import add_plugin

import resreg
from resreg.plugins import DISABLE_ENV, Plugins, PluginWarning

REGISTERS = """import resreg


@resreg.hookimpl
def resreg_register(registry):
    registry.register("block", "{block}", "nowhere:Block")
"""


def _distribution(site, dist: str, version: str, group: str, plugins: dict[str, str]) -> None:
    """An installed distribution as pip leaves it: a `.dist-info` with METADATA and entry_points.txt."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "".join(f"{n} = {m}\n" for n, m in plugins.items()))


def test_entry_points_load_builtins_first_then_by_name_and_each_failure_is_that_plugins_alone(tmp_path, monkeypatch):
    group, tag = f"resreg_test_{uuid.uuid4().hex}", uuid.uuid4().hex[:8]
    modules = {
        name: f"{name}_{tag}" for name in ("builtin", "a_clash", "broken", "dup_one", "a_dup_two", "off", "zeta")
    }
    for name, module in modules.items():
        source = "raise SystemExit(3)\n" if name == "broken" else REGISTERS.format(block=f"{name}_block")
        (tmp_path / f"{module}.py").write_text(source)
    # "resreg" is the built-in distribution: its plugin keeps the name a third party sorting first also claims
    _distribution(tmp_path, "aaa-third", "0.1", group, {"shared": modules["a_clash"]})
    _distribution(tmp_path, "resreg", "9.9", group, {"shared": modules["builtin"]})
    _distribution(tmp_path, "gamma", "3.0", group, {"broken": modules["broken"]})
    # the same plugin name twice: the first distribution by name wins, whatever the module paths sort as
    _distribution(tmp_path, "alpha", "1.0", group, {"dup": modules["dup_one"]})
    _distribution(tmp_path, "beta", "2.0", group, {"dup": modules["a_dup_two"], "off": modules["off"]})
    _distribution(tmp_path, "omega", "4.0", group, {"zeta": modules["zeta"]})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(DISABLE_ENV, "off,not_installed")
    plugins = Plugins()
    with pytest.warns(PluginWarning) as caught:
        plugins.load_entry_points(group)
    report = [(i.name, i.distribution, i.version, i.module, i.status, i.error, i.builtin) for i in plugins.infos]
    taken = "another distribution already provides a plugin named"
    assert report == [
        ("shared", "resreg", "9.9", modules["builtin"], "loaded", "", True),
        ("broken", "gamma", "3.0", modules["broken"], "failed", "import failed: SystemExit: 3", False),
        ("dup", "alpha", "1.0", modules["dup_one"], "loaded", "", False),
        ("dup", "beta", "2.0", modules["a_dup_two"], "failed", f"{taken} 'dup'", False),
        ("off", "beta", "2.0", modules["off"], "disabled", "", False),
        ("shared", "aaa-third", "0.1", modules["a_clash"], "failed", f"{taken} 'shared'", False),
        ("zeta", "omega", "4.0", modules["zeta"], "loaded", "", False),
    ]
    assert sorted(plugins.registry.names("block")) == ["builtin_block", "dup_one_block", "zeta_block"]
    assert [str(w.message) for w in caught] == [
        "resreg plugin 'broken' (gamma) disabled: import failed: SystemExit: 3",
        f"resreg plugin 'dup' (beta) disabled: {taken} 'dup'",
        f"resreg plugin 'shared' (aaa-third) disabled: {taken} 'shared'",
    ]


def test_a_plugin_is_registered_under_its_own_name():
    class Good:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("block", "good", "nowhere:Block")

    plugin = Good()
    plugins, info, caught = add_plugin(plugin, "good")
    assert (info.status, caught, plugins.manager.get_plugin("good")) == ("loaded", [], plugin)


def test_a_hook_taking_an_argument_no_hook_passes_is_unregistered_with_pluggys_reason():
    class Misspelt:
        @resreg.hookimpl
        def resreg_register(self, registy): ...

    plugin = Misspelt()
    plugins, info, caught = add_plugin(plugin, "misspelt")
    assert info.status == "failed" and info.error.startswith("PluginValidationError: Plugin 'misspelt' for hook")
    assert "registy" in info.error and caught == [f"resreg plugin 'misspelt' (resreg-misspelt) disabled: {info.error}"]
    assert not plugins.manager.is_registered(plugin)


def test_a_hook_that_is_no_hook_disables_its_plugin_naming_the_closest_hook():
    class Typo:
        @resreg.hookimpl
        def resreg_registr(self, registry): ...

    plugin = Typo()
    plugins, info, caught = add_plugin(plugin, "typo")
    assert info.error.startswith(
        "hook implementation: unknown hook 'resreg_registr' (did you mean 'resreg_register'? known: "
    )
    assert info.error.endswith(" resreg_register, resreg_run_end, resreg_run_start, resreg_step_end)")
    assert caught == [f"resreg plugin 'typo' (resreg-typo) disabled: {info.error}"]
    assert not plugins.manager.is_registered(plugin)


def test_a_refused_entry_is_one_warning_and_the_plugin_keeps_the_rest():
    class OneBad:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("block", "kept", "nowhere:Block")
            registry.register("block", "bad", "no_colon")

    plugins, info, caught = add_plugin(OneBad(), "onebad")
    refusal = "block 'bad' of plugin 'onebad' (resreg-onebad): an import path is 'package.module:attr', got 'no_colon'"
    assert (info.status, info.refused, caught) == ("loaded", [refusal], [refusal])
    assert plugins.registry.names("block") == ["kept"]


def test_a_registration_that_raises_takes_back_what_it_registered():
    class Raises:
        @resreg.hookimpl
        def resreg_register(self, registry):
            registry.register("block", "early", "nowhere:Block")
            raise ValueError("a bad\n  day")

    plugin = Raises()
    plugins, info, caught = add_plugin(plugin, "raises")
    assert (info.status, info.error) == ("failed", "registration failed: ValueError: a bad day")
    assert plugins.registry.names("block") == [] and not plugins.manager.is_registered(plugin)
    assert caught == [f"resreg plugin 'raises' (resreg-raises) disabled: {info.error}"]
