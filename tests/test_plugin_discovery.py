"""Plugin discovery through real entry points of real distributions installed into a temporary location.

Tiny distributions are built and installed with pip (no network, no build isolation): one good, one
that fails to import, one that calls `sys.exit` at import, one with a misspelt hook, and one that
registers a name the good one already took. `resreg` runs in a subprocess with them on its path,
exactly as a user's environment would have them.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import run_process

PLUGINS = {
    "resreg-toy": (
        "resreg_toy",
        """
        import torch.nn as nn
        import resreg

        class ToyBlock(nn.Identity):
            '''A block that does nothing (a test plugin).'''

        @resreg.hookimpl
        def resreg_register(registry):
            registry.register("block", "toy_block", ToyBlock)
        """,
    ),
    "resreg-broken": ("resreg_broken", "import this_module_does_not_exist\n"),
    "resreg-exits": ("resreg_exits", "import sys\nsys.exit('resreg_exits refuses to run here')\n"),
    "resreg-typo": (
        "resreg_typo",
        """
        import resreg

        @resreg.hookimpl
        def resreg_register():  # takes none of the hook's arguments: called with none
            pass

        @resreg.hookimpl
        def resreg_step_ends(run, metrics):
            pass
        """,
    ),
    "resreg-zclash": (
        "resreg_zclash",
        """
        import torch.nn as nn
        import resreg

        @resreg.hookimpl
        def resreg_register(registry):
            registry.register("block", "toy_block", nn.Identity)
        """,
    ),
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory, install_plugins) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    for dist, (module, source) in PLUGINS.items():
        project = root / "src" / dist
        project.mkdir(parents=True)
        (project / f"{module}.py").write_text(textwrap.dedent(source))
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
            py-modules = ["{module}"]
            """)
        )
    return install_plugins(*sorted((root / "src").iterdir()))


def resreg(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_process(*args, site=site, env=env)  # tests/conftest.py


def test_plugins_report_good_broken_and_clashing_without_crashing(plugin_site):
    result = resreg(plugin_site, "plugins")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "toy  [loaded]  resreg-toy 1.2.3  (resreg_toy)" in out
    assert "block: toy_block" in out
    assert "broken  [failed]  resreg-broken 1.2.3" in out
    assert "ModuleNotFoundError: No module named 'this_module_does_not_exist'" in out
    assert "zclash  [failed]" in out
    assert (
        "block 'toy_block' registered twice: by plugin 'toy' (resreg-toy) and by plugin 'zclash' (resreg-zclash)" in out
    )
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
    assert any(line.startswith("toy_block") and "toy (resreg-toy)" in line for line in result.stdout.splitlines())
    warnings = [line for line in result.stderr.splitlines() if line]
    assert any("resreg plugin 'broken' (resreg-broken) disabled: import failed" in w for w in warnings)
    assert any("'zclash'" in w and "registered twice" in w for w in warnings)
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
