"""The `resreg` command itself: help without torch, one-line errors with exit 2, list/show/plugins."""

from __future__ import annotations

import subprocess
import sys

import pytest

from resreg.cli.main import main


def test_help_lists_commands_without_importing_torch():
    probe = (
        "import sys, contextlib, io\n"
        "from resreg.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'timm', 'huggingface_hub', 'matplotlib') if m in sys.modules]\n"
        "print(heavy, 'show' in out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[] True", result.stderr


def test_command_help_keeps_its_example_commands_one_per_line(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lines = capsys.readouterr().out.splitlines()
    assert "resreg train quickstart" in lines  # not run into the next example by argparse's re-wrapping
    assert any(line.startswith("resreg train --resume runs/") for line in lines)


def test_usage_error_is_one_line_with_status_2(cli):
    result = cli("list", "--no-such-flag")
    assert result.status == 2
    assert result.err.count("\n") == 1 and "unknown option '--no-such-flag' (known: --debug, --help" in result.err


def test_unknown_kind_suggests(capsys):
    assert main(["list", "blokcs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resreg list: error: unknown kind 'blokcs' (did you mean") and err.count("\n") == 1


def test_list_without_kind_shows_every_kind_and_configs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ("stems", "blocks", "shortcuts", "heads", "builders", "models", "recipes", "datasets", "configs"):
        assert any(line.startswith(kind) for line in out.splitlines()), kind


def test_plugins_lists_the_built_ins_with_distribution_and_version(capsys):
    from resreg import __version__

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("resnet", "densenet", "recipes", "datasets"):
        assert f"{name}  [loaded]  resreg {__version__}" in out


def test_missing_config_is_one_line_exit_2(cli, tmp_path):
    result = cli("show", str(tmp_path / "nope.yaml"))
    assert result.status == 2 and result.err.count("\n") == 1
    assert result.err.strip().endswith(f"config file not found: {tmp_path / 'nope.yaml'}")
    assert "Traceback" not in result.err


def test_debug_flag_shows_the_traceback(resreg_process, tmp_path):
    """About the process: the interpreter prints the traceback of the uncaught error."""
    result = resreg_process("--debug", "show", str(tmp_path / "nope.yaml"))
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConfigError" in result.stderr


@pytest.mark.parametrize("config", ["quickstart", "cifar10/resnet20"])
def test_typo_in_block_override_suggests_the_right_block(cli, config):
    result = cli("show", config, "model.block=botleneck")
    assert result.status == 2, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "model.block: unknown block 'botleneck' (did you mean 'bottleneck'?" in lines[0]


def test_show_resolves_a_shipped_config_with_overrides(capsys):
    import yaml

    assert main(["show", "cifar10/resnet20", "train.lr=0.05", "model.depths=[2,2,2]"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["train"]["lr"] == 0.05
    assert shown["model"]["type"] == "resnet" and shown["model"]["depths"] == [2, 2, 2]  # preset expanded


def test_plugins_shows_the_hooks_a_plugin_implements(cli):
    """A plugin that registers no component (the loggers) still shows what it does: its training callbacks."""
    out = cli("plugins").out
    loggers = out[out.index("loggers  [loaded]") :].splitlines()
    assert loggers[1] == "    hooks: resreg_eval_end, resreg_run_end, resreg_step_end", out
    assert "resreg_register" not in out  # every plugin has it: it says nothing
