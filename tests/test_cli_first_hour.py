"""What trips a new user in the first hour (session 4, U): each mistake is one line that says what to do.

Every test runs the real command (`cli` of tests/conftest.py, or a subprocess where the process matters)
on real files: a run directory as `resreg train` leaves it when stopped, real plugin distributions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resreg.config import load_config
from resreg.engine.run_lock import RunLock


def one_line(cli_result) -> str:
    assert cli_result.status == 2 and cli_result.err.count("\n") == 1, cli_result.err
    assert "Traceback" not in cli_result.err
    return cli_result.err.strip()


# --- a run stopped before its end (Ctrl-C, a killed job) has checkpoints but no final weights yet --------------


def test_eval_of_a_stopped_run_says_how_to_finish_it_or_use_its_checkpoint(cli, stopped_run):
    assert one_line(cli("eval", str(stopped_run))) == (
        f"resreg eval: error: {stopped_run}: the run has no final weights yet (model.safetensors is written when "
        f"it finishes): `resreg train --resume {stopped_run}` finishes it, or `resreg eval {stopped_run} "
        "--checkpoint last` evaluates its last checkpoint"
    )


def test_eval_of_a_run_still_training_says_to_wait_or_use_its_checkpoint(cli, stopped_run):
    lock = RunLock(stopped_run).acquire()  # as `resreg train` holds it for the whole run
    try:
        assert one_line(cli("eval", str(stopped_run))) == (
            f"resreg eval: error: {stopped_run}: the run is still training (model.safetensors is written when it "
            f"finishes): wait for it, or `resreg eval {stopped_run} --checkpoint last` evaluates its last checkpoint"
        )
    finally:
        lock.release()


@pytest.mark.parametrize(
    "command",
    [["predict", "{run}", "shoe.png"], ["export", "{run}", "--format", "onnx"], ["push", "{run}", "me/r", "--dry-run"],
     ["push", "{run}", "me/r"]],
    ids=["predict", "export", "push-dry-run", "push"],
)  # fmt: skip
def test_predict_export_and_push_of_a_stopped_run_say_how_to_finish_it(cli, stopped_run, command):
    argv = [arg.format(run=stopped_run) for arg in command]
    err = one_line(cli(*argv, env={"HF_HUB_OFFLINE": "1"}))  # offline: a push that went on would not reach a Hub
    assert err == (
        f"resreg {command[0]}: error: {stopped_run}: the run has no final weights yet (model.safetensors is "
        f"written when it finishes): `resreg train --resume {stopped_run}` finishes it"
    )
    assert sorted(p.name for p in stopped_run.iterdir()) == ["checkpoints", "config.yaml"]  # nothing written


# --- `resreg list` marks what `resreg list KIND` marks broken ---------------------------------------------------
def test_the_overview_marks_components_that_cannot_be_imported_as_the_kind_listing_does(tmp_path):
    from conftest import run_process
    from plugin_site import write_plugin_site

    site = write_plugin_site(tmp_path, "ghosts", """
        import resreg

        @resreg.hookimpl
        def resreg_register(registry):
            registry.register("block", "ghost", "resreg_ghosts_missing:Block")  # no such module
            registry.register("block", "typo", "resreg_ghosts:Blok")  # no such attribute
            registry.register("combiner", "lost", "resreg_ghosts_missing:combine")
        """)  # fmt: skip
    overview = run_process("list", site=site)
    assert overview.returncode == 0, overview.stderr
    lines = {line.split()[0]: line for line in overview.stdout.splitlines()}
    assert lines["blocks"].split(None, 2)[2] == (
        "basic, bottleneck, ghost [broken], highway, plain, preact_basic, preact_bottleneck, typo [broken]"
    )
    assert "lost [broken]" in lines["combiners"] and "[broken]" not in lines["models"]
    assert overview.stdout.splitlines()[-1] == (
        "3 broken (why: resreg list blocks, resreg list combiners); resreg plugins --check imports every component"
    )
    blocks = run_process("list", "blocks", site=site).stdout
    assert {line.split()[0] for line in blocks.splitlines() if "[broken: " in line} == {"ghost", "typo"}


# --- `resreg list | head`: a reader that stops early ------------------------------------------------------------
@pytest.mark.parametrize("argv", [["list"], ["list", "configs"]])
def test_output_piped_into_a_reader_that_stops_early_is_no_traceback(argv):
    """The reader closes the pipe before resreg writes (as `| head -1` may): no traceback, exit status 0."""
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if k != "RESREG_DEBUG"}
    process = subprocess.Popen([sys.executable, "-m", "resreg", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=environment)  # fmt: skip
    process.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    err = process.stderr.read()
    assert process.wait(timeout=300) == 0 and err == "", err


# --- a directory where a config belongs ----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "show", "summary", "eval"])
def test_a_folder_given_as_a_config_names_the_configs_it_holds(cli, tmp_path, command):
    folder = tmp_path / "my-configs"
    folder.mkdir()
    for name in ("b.yaml", "a.yaml", "_part.yaml", "notes.txt"):
        (folder / name).write_text("name: x\n")
    valid = "give a config file, or a shipped config (resreg list configs)"
    if command != "eval":  # eval reads a folder as a model folder (a pulled repo)
        assert one_line(cli(command, str(folder))) == (
            f"resreg {command}: error: {folder} is a directory, not a config (it holds {folder}/a.yaml, "
            f"{folder}/b.yaml): {valid}"
        )
    assert one_line(cli(command, "cifar10")) == (  # a folder of shipped configs
        f"resreg {command}: error: cifar10 is a directory, not a config (it holds cifar10/densenet100_k12, "
        "cifar10/densenet100_k24, cifar10/densenet40_k12, cifar10/densenet_bc100_k12, cifar10/densenet_bc190_k40, "
        f"cifar10/densenet_bc250_k24, cifar10/plain110, cifar10/plain20, ... (20)): {valid}"
    )


@pytest.mark.parametrize("command", ["show", "summary"])
def test_show_and_summary_of_a_run_or_its_checkpoint_name_the_runs_config(cli, stopped_run, command):
    config = stopped_run / "config.yaml"
    assert one_line(cli(command, str(stopped_run))) == (
        f"resreg {command}: error: {stopped_run} is a run directory, not a config: resreg {command} {config}"
    )
    last = stopped_run / "checkpoints" / "last.pt"
    assert one_line(cli(command, str(last))) == (
        f"resreg {command}: error: {last} is a training checkpoint, not a config: use its run directory: "
        f"resreg {command} {config}"
    )
    assert cli(command, str(config)).status == 0  # what the message says to type works


# --- argparse's own errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "missing"), [("eval", "source"), ("show", "config"), ("summary", "model"), ("sweep", "CONFIG")]
)
def test_a_missing_argument_names_only_what_is_required(cli, command, missing):
    """The overrides are optional: argparse listed a `*` positional without a default as required too."""
    assert one_line(cli(command)) == (
        f"resreg {command}: error: the following arguments are required: {missing} (see resreg {command} --help)"
    )


# --- resuming with a config as well ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["config-first", "resume-first"])
def test_resume_with_a_config_says_the_run_keeps_its_own(cli, stopped_run, order):
    argv = ["quickstart", "--resume", str(stopped_run)]
    argv = argv if order == "config-first" else argv[1:] + argv[:1]
    assert one_line(cli("train", *argv)) == (
        f"resreg train: error: --resume {stopped_run} continues the run with its own config "
        f"({stopped_run}/config.yaml): drop 'quickstart', or start a new run from it without --resume"
    )


def test_a_misspelt_option_is_named_with_the_commands_options(cli):
    assert one_line(cli("train", "quickstart", "--runn-dir", "runs/x")) == (
        "resreg train: error: unknown option '--runn-dir' (did you mean '--run-dir'? known: --debug, --help, "
        "--nproc, --overwrite, --resume, --run-dir) (see resreg train --help)"
    )
    assert "(did you mean '--checkpoint'?" in one_line(cli("eval", "runs/x", "--checkpont=last"))
    assert one_line(cli("list", "blocks", "extra")) == (
        "resreg list: error: unrecognized arguments: extra (see resreg list --help)"
    )


def test_debug_after_the_command_shows_the_traceback_as_before_it_does(cli):
    from resreg.errors import ConfigError

    for argv in (["--debug", "show", "quickstart", "train.lr=x"], ["show", "quickstart", "train.lr=x", "--debug"]):
        with pytest.raises(ConfigError, match=r"train\.lr: 'x' is not a valid float"):
            cli(*argv)


# --- the run directories the docs and the commands' help name ------------------------------------------------
def test_the_docs_and_help_name_run_directories_their_commands_write():
    """`runs/NAME` in a page or a command's help is a run some command writes: a shipped config's run (runs/<its
    name>, -2 for a second run), or a --run-dir shown on that page. `runs/resnet20` pushed in the Hub guide is
    what no `resreg train` ever writes (cifar10/resnet20 writes runs/cifar10-resnet20)."""
    import importlib
    import re

    from resreg.cli.main import COMMANDS
    from resreg.config import list_shipped_configs
    from resreg.engine.rundir import run_name

    root = Path(__file__).resolve().parents[1]
    shipped = {run_name(load_config(name), name) for name in list_shipped_configs()}
    texts = {page.name: page.read_text() for page in (root / "docs").glob("*.md") if page.name != "testing.md"}
    texts |= {f"resreg {name} --help": importlib.import_module(module).__doc__ for name, module in COMMANDS.items()}
    named = 0
    for where, text in texts.items():
        given = set(re.findall(r"--run-dir runs/([\w.-]+)", text))
        for run in re.findall(r"(?<![\w/$.-])runs/([\w.-]*\w)", text):  # not sweeps/x/runs/... nor /shared/runs/
            named += 1
            assert run in given or re.sub(r"-(\d+|seed\d+)$", "", run) in shipped, (where, run)
    assert named > 20  # the pattern finds them


# --- eval options that went with another kind of source were ignored without a word ---------------------------
def test_eval_refuses_options_and_overrides_its_source_would_ignore(cli, stopped_run, tmp_path):
    weights = tmp_path / "other.safetensors"  # never read: the refusal comes first
    assert one_line(cli("eval", str(stopped_run), "--weights", str(weights))) == (
        f"resreg eval: error: --weights fills the model of a config; {stopped_run} brings its own weights: "
        "--checkpoint best or last chooses among a run's"
    )
    model = stopped_run / "model.safetensors"
    assert one_line(cli("eval", str(model), "--weights", str(weights))).endswith(f"; {model} brings its own weights")
    for source in (str(stopped_run), str(model)):  # a saved model is evaluated as trained
        assert one_line(cli("eval", source, "model.depths=[2,2,2]")) == (
            f"resreg eval: error: model.depths=[2,2,2]: {source} is evaluated as it was trained, so a model override "
            "would not apply; evaluate a config's model instead (resreg eval CONFIG model.KEY=VALUE --weights WEIGHTS)"
        )
    for source in (str(model), "quickstart"):
        assert one_line(cli("eval", source, "--checkpoint", "last")) == (
            f"resreg eval: error: --checkpoint last chooses among a run directory's weights; {source} is not a run "
            "directory"
        )


# --- a new plugin named like an installed one would be refused once installed --------------------------------
def test_plugin_new_refuses_the_name_of_an_installed_plugin(cli, tmp_path):
    assert one_line(cli("plugin", "new", "resnet", "--dir", str(tmp_path))) == (
        "resreg plugin: error: plugin name 'resnet' is taken by the installed distribution 'resreg', which would "
        "keep it (`resreg plugins` lists the plugin names in use); choose another name"
    )
    assert not list(tmp_path.iterdir())


# --- `resreg plugins --check` in a plugin's CI ------------------------------------------------------------------
@pytest.mark.slow  # --check imports every component, torch included, in two processes
def test_plugins_check_fails_for_a_plugin_that_failed_to_load(tmp_path):
    from conftest import run_process
    from plugin_site import write_plugin_site

    site = write_plugin_site(tmp_path, "unloadable", "import a_module_nobody_installed\n")
    check = run_process("plugins", "--check", site=site)
    assert check.returncode == 1, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert (
        "failed: plugin 'unloadable' (resreg-unloadable): import failed: ModuleNotFoundError: No module named "
        "'a_module_nobody_installed'"
    ) in lines
    assert lines[-1].endswith(": all import; 1 plugin(s) failed to load")
    # turned off on purpose: not a failure
    disabled = run_process("plugins", "--check", site=site, env={"RESREG_DISABLE_PLUGINS": "unloadable"})
    assert disabled.returncode == 0 and disabled.stdout.splitlines()[-1].endswith(": all import")


def test_sweep_of_a_run_directory_or_a_folder_says_what_it_is(cli, stopped_run):
    err = one_line(cli("sweep", str(stopped_run), "--dry-run"))
    assert err.startswith(f"resreg sweep: error: {stopped_run} is a run directory, not a config: "), err
    assert one_line(cli("sweep", "quickstart", "cifar10", "--dry-run")).startswith(
        "resreg sweep: error: cifar10 is a directory, not a config (it holds cifar10/densenet100_k12, "
    )


# --- the same command again after Ctrl-C starts runs/<name>-2 -------------------------------------------------
def test_training_a_config_again_names_its_stopped_run_that_resume_continues(cli, stopped_run, monkeypatch):
    monkeypatch.chdir(stopped_run.parent.parent)  # runs/quickstart is the quickstart's first run
    nowhere = f"data.root={stopped_run.parent.parent / 'no-data'}"  # fails after the note, before any training
    note = (
        "resreg train: note: runs/quickstart holds a run stopped before its end: `resreg train --resume "
        "runs/quickstart` continues it; this command starts a new run"
    )
    result = cli("train", "quickstart", nowhere)
    assert result.status == 2 and result.err.splitlines()[0] == note, result.err
    (stopped_run / "run.lock").write_text("pid 1234 on host\n")  # left by a killed run: nobody holds it
    assert cli("train", "quickstart", nowhere).err.splitlines()[0] == note
    lock = RunLock(stopped_run).acquire()  # a process is training it: not stopped
    try:
        assert "note:" not in cli("train", "quickstart", nowhere).err
    finally:
        lock.release()
    (stopped_run / "model.safetensors").write_bytes(b"")  # finished
    assert "note:" not in cli("train", "quickstart", nowhere).err


# --- eval's figures, an ensemble's included, in one column ----------------------------------------------------
def test_eval_prints_an_ensembles_figures_in_aligned_columns(cli, tmp_path):
    from resreg.models import create_model
    from resreg.weights import save_model

    for i in range(2):
        save_model(create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / f"m{i}.safetensors")
    config = tmp_path / "ensemble.yaml"
    members = ", ".join(f'"${{config_dir}}/m{i}.safetensors"' for i in range(2))
    config.write_text(
        f"model: {{type: ensemble, combiner: mean_probs, members: [{members}]}}\n"
        "data: {type: synthetic, num_images: 8, image_size: 8}\neval: {splits: [test], batch_size: 8}\n"
    )
    result = cli("eval", str(config))
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("test_loss ") and lines[3].startswith("test_member0_loss ")
    value_columns = {line.index(line.split()[1], len(line.split()[0])) for line in lines}
    assert len(lines) == 9 and len(value_columns) == 1, result.out


# --- predict and export of a config or preset name: no weights in it ------------------------------------------
@pytest.mark.parametrize("command", [["predict", "{source}", "shoe.png"], ["export", "{source}", "--format", "pt2"]])
def test_predict_and_export_of_a_config_or_preset_name_say_where_weights_come_from(cli, tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def error(source: str) -> str:
        return one_line(cli(*(arg.format(source=source) for arg in command)))

    head = f"resreg {command[0]}: error: "
    assert error("quickstart") == (
        f"{head}quickstart is a config, not a model with trained weights: resreg train quickstart writes "
        "runs/quickstart"
    )
    (tmp_path / "runs" / "quickstart").mkdir(parents=True)
    (tmp_path / "runs" / "quickstart" / "config.yaml").write_text("name: quickstart\n")
    assert error("quickstart") == (
        f"{head}quickstart is a config, not a model with trained weights: its run has them: resreg {command[0]} "
        "runs/quickstart"
    )
    assert error("resnet20") == (
        f"{head}resnet20 is a model preset, not a model with trained weights: give a run directory, a .safetensors "
        "file or hf-hub:owner/name"
    )


# --- the train commands the docs show --------------------------------------------------------------------------
def documented_train_commands() -> list[tuple[str, list[str]]]:
    """(page, [config, override, ...]) of each `resreg train` line in the README's and the docs' bash blocks,
    without options, resumes and shell variables."""
    import re
    import shlex

    root = Path(__file__).resolve().parents[1]
    pages = [root / "README.md", *sorted(p for p in (root / "docs").glob("*.md") if p.name != "testing.md")]
    commands = []
    for page in pages:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("resreg train ") and "--resume" not in line and "$" not in line:
                    words = shlex.split(line)[2:]
                    valued = {i + 1 for i, word in enumerate(words) if word in ("--run-dir", "--nproc")}
                    kept = [w for i, w in enumerate(words) if not w.startswith("--") and i not in valued]
                    commands.append((page.name, kept))
    return commands


def test_the_documented_train_commands_have_schedules_that_fit_their_length(cli):
    """docs/recipes.md trained cifar10/resnet20 for `train.length=30` steps with milestones at 15000 and 22000:
    a schedule that never decays. Each documented command (plugins' blocks aside) resolves, and milestones it
    sets lie inside its length (a short try of a recipe keeps the recipe's own milestones)."""
    commands = [(page, words) for page, words in documented_train_commands() if "mynet_block" not in " ".join(words)]
    assert len(commands) > 10
    for page, words in commands:
        shown = cli("show", *words)
        assert shown.status == 0, (page, words, shown.err)
        train = yaml.safe_load(shown.out)["train"]
        if not any(word.startswith("train.schedule.milestones=") for word in words):
            continue
        milestones = [m for m in train["schedule"]["milestones"] if isinstance(m, (int, float))]
        if isinstance(train["length"], (int, float)):
            assert all(m < train["length"] for m in milestones), (page, words, train["length"], milestones)


@pytest.mark.parametrize("command", ["summary", "export"])
def test_input_size_usage_reads_as_one_or_two_numbers(cli, command):
    usage = cli(command, "--help").out
    assert "--input-size H [W ...]" in usage and "H W [H W ...]" not in usage  # not a list of pairs


# --- a data option given where no data set is named ---------------------------------------------------------------
def test_a_data_option_without_a_data_set_lists_the_data_sets(cli, tmp_path):
    """`resreg eval model.safetensors data.limit=256`: a saved model brings no data set, so the override makes a
    data section without `type:`; the error names the data sets that would do."""
    import resreg
    from resreg.weights import save_model

    weights = save_model(resreg.create_model("resnet20"), tmp_path / "m.safetensors")
    message = one_line(cli("eval", str(weights), "data.limit=256"))
    assert message.endswith(
        "got {'limit': 256} (known: cifar10, cifar100, fashion_mnist, imagefolder, mnist, synthetic)"
    )
