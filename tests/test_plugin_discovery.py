"""Plugin discovery and the plugin contract, through real entry points of real distributions.

Tiny distributions are built and installed with pip (no network, no build isolation): one good, one
that fails to import, one that calls `sys.exit` at import, one with a misspelt hook, one that registers
a name the good one already took, and `resreg-aa-dup`, named to sort before every built-in, which breaks
each rule of the contract once (a built-in's name, a positional spec argument, a lazy module that does
not exist, one whose import fails, an attribute typo, an error raised in its own code). `resreg` runs
in a subprocess with them on its path, exactly as a user's environment would have them.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import run_process

AA_DUP = {
    "resreg_aa_dup": """
        import torch.nn as nn
        import resreg
        from resreg.blocks import ResidualBlock

        class Positional(ResidualBlock):
            '''A block whose kernel size a spec could never set.

            Args:
                kernel_size: size of the convolution.
            '''

            zero_init = "bn"

            def __init__(self, in_chs, planes, stride=1, shortcut=None, drop_path_rate=0.0, kernel_size=3, **kwargs):
                super().__init__(in_chs, planes, stride, shortcut, drop_path_rate, **kwargs)

        @resreg.hookimpl
        def resreg_register(registry):
            registry.register("block", "basic", "resreg_aa_dup_parts:Squatter")  # a built-in's name
            registry.register("block", "positional", Positional)
            registry.register("block", "ghost", "resreg_aa_dup_missing:Block")  # no such module
            registry.register("block", "needs_dep", "resreg_aa_dup_needs_dep:Block")  # its import fails
            registry.register("block", "typo", "resreg_aa_dup_parts:Squater")  # no such attribute
            registry.register("attn", "strict_attn", "resreg_aa_dup_parts:strict_attn")
        """,
    "resreg_aa_dup_parts": """
        import torch.nn as nn
        from resreg.errors import ConfigError

        class Squatter(nn.Identity):
            '''Would take the built-in basic block's place.'''

        def strict_attn(channels, *, reduction: int = 4):
            '''An attention that checks its arguments in its own code.

            Args:
                reduction: channels are divided by this (it must divide them).
            '''
            if channels % reduction:
                raise ConfigError(f"reduction {reduction} does not divide {channels} channels")
            return nn.Identity()
        """,
    "resreg_aa_dup_needs_dep": """
        import a_dependency_that_is_not_installed
        """,
}

PLUGINS = {
    "resreg-aa-dup": AA_DUP,
    "resreg-toy": {"resreg_toy": """
        import torch.nn as nn
        import resreg

        class ToyBlock(nn.Identity):
            '''A block that does nothing (a test plugin).'''

        @resreg.hookimpl
        def resreg_register(registry):
            registry.register("block", "toy_block", ToyBlock)
            registry.register("block", "toy_extra", ToyBlock)
        """},
    "resreg-broken": {"resreg_broken": "import this_module_does_not_exist\n"},
    "resreg-exits": {"resreg_exits": "import sys\nsys.exit('resreg_exits refuses to run here')\n"},
    "resreg-typo": {"resreg_typo": """
        import resreg

        @resreg.hookimpl
        def resreg_register():  # takes none of the hook's arguments: called with none
            pass

        @resreg.hookimpl
        def resreg_step_ends(run, metrics):
            pass
        """},
    "resreg-zclash": {"resreg_zclash": """
        import torch.nn as nn
        import resreg

        @resreg.hookimpl
        def resreg_register(registry):
            registry.register("block", "toy_block", nn.Identity)
        """},
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory, install_plugins) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    for dist, modules in PLUGINS.items():
        project = root / "src" / dist
        project.mkdir(parents=True)
        for name, source in modules.items():
            (project / f"{name}.py").write_text(textwrap.dedent(source))
        module = next(iter(modules))  # the first module is the plugin
        (project / "pyproject.toml").write_text(
            textwrap.dedent(f"""
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "{dist}"
            version = "1.2.3"
            [project.entry-points.resreg]
            {module.removeprefix("resreg_")} = "{module}"
            [tool.setuptools]
            py-modules = {list(modules)}
            """)
        )
    return install_plugins(*sorted((root / "src").iterdir()))


def resreg(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_process(*args, site=site, env=env)  # tests/conftest.py


TOY_CLASH = (
    "block 'toy_block' refused: plugin 'toy' (resreg-toy) and plugin 'zclash' (resreg-zclash) both register it; "
    "uninstall one, or disable it with RESREG_DISABLE_PLUGINS"
)


def test_plugins_report_good_broken_and_clashing_without_crashing(plugin_site):
    result = resreg(plugin_site, "plugins")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "toy  [loaded]  resreg-toy 1.2.3  (resreg_toy)" in out
    assert "block: toy_extra" in out and "block: toy_block" not in out
    assert "broken  [failed]  resreg-broken 1.2.3" in out
    assert "ModuleNotFoundError: No module named 'this_module_does_not_exist'" in out
    assert "zclash  [loaded]" in out
    assert out.count(f"refused: {TOY_CLASH}") == 2  # under each of the two plugins
    assert "resnet  [loaded]  resreg" in out  # the built-ins come through the same entry points
    assert "exits  [failed]  resreg-exits 1.2.3" in out
    assert "error: import failed: SystemExit: resreg_exits refuses to run here" in out
    assert "typo  [failed]  resreg-typo 1.2.3" in out
    assert "error: hook implementation: unknown hook 'resreg_step_ends' (did you mean 'resreg_step_end'?" in out
    assert "Traceback" not in result.stderr


def test_a_plugin_calling_sys_exit_at_import_leaves_every_command_working(plugin_site):
    result = resreg(plugin_site, "list", "builders")
    assert result.returncode == 0, result.stderr
    assert "resnet" in result.stdout
    assert "resreg plugin 'exits' (resreg-exits) disabled: import failed: SystemExit" in result.stderr
    assert "resreg plugin 'typo' (resreg-typo) disabled: hook implementation: unknown hook 'resreg_step_ends'" in (
        result.stderr
    )


def test_broken_plugin_is_a_one_line_warning_and_the_rest_works(plugin_site):
    result = resreg(plugin_site, "list", "blocks")
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("toy_extra") and "toy (resreg-toy)" in line for line in result.stdout.splitlines())
    warnings = [line for line in result.stderr.splitlines() if line]
    assert any("resreg plugin 'broken' (resreg-broken) disabled: import failed" in w for w in warnings)
    assert f"resreg: warning: {TOY_CLASH}" in warnings
    assert all(w.startswith("resreg: warning:") for w in warnings), warnings


def test_disable_env_blocks_plugins_by_name(plugin_site):
    result = resreg(plugin_site, "plugins", RESREG_DISABLE_PLUGINS="broken, zclash,exits,typo")
    assert result.returncode == 0
    assert "broken  [disabled]" in result.stdout and "zclash  [disabled]" in result.stdout
    assert result.stderr == ""
    # with the first claimant disabled, the other one owns the name
    result = resreg(plugin_site, "list", "blocks", RESREG_DISABLE_PLUGINS="toy,broken,exits,typo")
    assert "zclash (resreg-zclash)" in result.stdout


def test_each_hook_implementation_gets_only_the_arguments_it_declares():
    from resreg import hookimpl
    from resreg.plugins import PluginInfo, Plugins

    calls = []

    class Logger:
        @hookimpl
        def resreg_register(self):
            calls.append("register")

        @hookimpl
        def resreg_step_end(self, metrics):
            calls.append(metrics)

    plugins = Plugins()
    plugins.add(Logger(), PluginInfo("logger", "logger-dist", "1.0", "logger"))
    plugins.hook.resreg_step_end(run=object(), metrics={"loss": 1.0})
    assert calls == ["register", {"loss": 1.0}]
    assert plugins.infos[0].status == "loaded"


def test_a_plugin_raising_system_exit_at_registration_or_in_a_lazy_module_is_contained(tmp_path, monkeypatch):
    from resreg import hookimpl
    from resreg.errors import RegistryError
    from resreg.plugins import PluginInfo, Plugins

    class Quitter:
        @hookimpl
        def resreg_register(self, registry):
            raise SystemExit("no registry for me")

    (tmp_path / "resreg_lazy_exit.py").write_text("raise SystemExit('lazy module says bye')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Lazy:
        @hookimpl
        def resreg_register(self, registry):
            registry.register("block", "lazy_exit", "resreg_lazy_exit:Block")

    plugins = Plugins()
    with pytest.warns(UserWarning, match="registration failed: SystemExit: no registry for me"):
        plugins.add(Quitter(), PluginInfo("quitter", "quitter-dist", "1.0", "quitter"))
    plugins.add(Lazy(), PluginInfo("lazy", "lazy-dist", "1.0", "lazy"))
    assert [(i.name, i.status) for i in plugins.infos] == [("quitter", "failed"), ("lazy", "loaded")]
    with pytest.raises(RegistryError, match="cannot import resreg_lazy_exit:Block: SystemExit: lazy module says bye"):
        _ = plugins.registry.get("block", "lazy_exit").obj


# --- the plugin contract, each rule broken once by resreg-aa-dup (named to load before every built-in) ----------
AA_DUP_IS = "plugin 'aa_dup' (resreg-aa-dup)"


def test_a_plugin_named_to_sort_first_cannot_take_a_builtin_name_nor_register_a_positional_argument(plugin_site):
    out = resreg(plugin_site, "plugins").stdout
    assert "aa_dup  [loaded]  resreg-aa-dup 1.2.3  (resreg_aa_dup)" in out
    assert "resnet  [loaded]" in out and "block: basic, bottleneck, plain, preact_basic" in out
    assert (
        f"    refused: block 'basic' of {AA_DUP_IS} refused: the built-in plugin 'resnet' (resreg) has that name "
        "(register it with replace=True to replace the built-in on purpose)"
    ) in out
    assert (
        f"    refused: block 'positional' of {AA_DUP_IS} refused: parameter 'kernel_size' is positional, but builders "
        "pass only in_chs, planes, stride, shortcut, drop_path_rate by position; make it keyword-only"
    ) in out
    listing = resreg(plugin_site, "list", "blocks").stdout.splitlines()
    assert any(line.startswith("basic ") and "resnet (resreg)" in line for line in listing)
    assert not any(line.startswith("positional ") for line in listing)
    summary = resreg(plugin_site, "summary", "resnet20")
    assert summary.returncode == 0 and "layer3" in summary.stdout, summary.stderr


def test_components_that_cannot_be_imported_are_marked_and_every_command_goes_on(plugin_site):
    listing = resreg(plugin_site, "list", "blocks")
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()}
    assert lines["ghost"].endswith("[broken: ModuleNotFoundError: No module named 'resreg_aa_dup_missing']")
    assert lines["typo"].endswith("[broken: AttributeError: module 'resreg_aa_dup_parts' has no attribute 'Squater']")
    assert "Two 3x3 convolutions" in lines["basic"]
    verbose = resreg(plugin_site, "list", "blocks", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "[broken: ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed']" in verbose.stdout
    assert "    groups: int = 1" in verbose.stdout  # the bottleneck after it is listed in full
    built = resreg(plugin_site, "summary", "resnet20", "block=needs_dep")
    assert built.returncode == 2 and "Traceback" not in built.stderr
    assert (
        f"resreg summary: error: model.block: block 'needs_dep' of {AA_DUP_IS}: cannot import "
        "resreg_aa_dup_needs_dep:Block: ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'"
    ) in built.stderr


def test_plugins_check_imports_every_component_and_names_what_fails(plugin_site):
    check = resreg(plugin_site, "plugins", "--check")
    assert check.returncode == 1
    broken = [line for line in check.stdout.splitlines() if line.startswith("broken: ")]
    assert broken == [
        f"broken: block 'ghost' of {AA_DUP_IS}: ModuleNotFoundError: No module named 'resreg_aa_dup_missing'",
        f"broken: block 'needs_dep' of {AA_DUP_IS}: ModuleNotFoundError: No module named "
        "'a_dependency_that_is_not_installed'",
        f"broken: block 'typo' of {AA_DUP_IS}: AttributeError: module 'resreg_aa_dup_parts' has no attribute 'Squater'",
    ]
    assert check.stdout.rstrip().endswith("components: 3 broken; 3 plugin(s) failed to load")  # broken, exits, typo
    debug = resreg(plugin_site, "--debug", "plugins", "--check")
    assert 'resreg_aa_dup_needs_dep.py", line 2, in <module>' in debug.stderr  # down to the plugin's own line
    assert "import a_dependency_that_is_not_installed" in debug.stderr


def test_an_error_raised_in_a_plugins_own_code_names_the_spec_path(plugin_site):
    result = resreg(plugin_site, "summary", "resnet20", "block={type: basic, attn: {type: strict_attn, reduction: 5}}")
    assert result.returncode == 2
    assert "resreg summary: error: model.block.attn: reduction 5 does not divide 16 channels\n" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # builds all 34 built-in presets (on the meta device: no memory, still ~20 s of Python)
def test_every_builtin_preset_still_builds_beside_the_contract_breaking_plugins(plugin_site, monkeypatch):
    import torch

    from resreg.models import create_model
    from resreg.plugins import Plugins

    monkeypatch.syspath_prepend(str(plugin_site))
    plugins = Plugins()
    with pytest.warns(UserWarning):  # the refusals and failures the tests above show
        plugins.load_entry_points()
    assert {i.name for i in plugins.infos} >= {"aa_dup", "toy", "zclash", "resnet", "densenet"}
    presets = [e.name for e in plugins.registry.entries("model") if e.provider.builtin]
    assert len(presets) >= 30
    with torch.device("meta"):
        for name in presets:
            create_model(name, registry=plugins.registry)


def test_the_model_cards_use_section_installs_the_plugins_the_model_needs():
    from resreg.hub.card import model_card

    record = {
        "spec": {"type": "resnet", "block": {"type": "basic", "attn": "cbam"}},
        "components": [{"kind": "builder", "name": "resnet"}, {"kind": "attn", "name": "cbam"}],
        "plugins": {"resreg": "0.1.0", "resreg-cbam": "0.2.1"},
    }
    use = model_card("me/cbam-net", record, [], has_curves=False).split("## Use\n\n", 1)[1]
    assert use.startswith("```bash\npip install resreg resreg-cbam==0.2.1\n```\n\n```python\n")
    only_builtins = model_card("me/net", {**record, "plugins": {"resreg": "0.1.0"}}, [], has_curves=False)
    assert "pip install" not in only_builtins
