"""The first hour of a new user (issue 17): the no-data path, failures that say what to do, a complete
resolved config, snapshot ensembles that survive a move, and a README whose tour names what exists."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from resreg_plugins.datasets.mnist import fashion_mnist

from resreg.cli.main import main
from resreg.config import find_config, load_config, validate_config
from resreg.config.options import EngineOptions, EvalOptions
from resreg.data import AugmentOptions, make_loader, synthetic
from resreg.data.augment import apply_scale_crop
from resreg.engine.evaluate import eval_splits
from resreg.errors import ConfigError, DataError
from resreg.plugins import get_registry
from resreg.recipe import AugmentSection, Recipe, ScheduleSection, build_recipe

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
CPU = torch.device("cpu")


def resreg_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("IMAGENET", "RESREG_DEBUG", "RESREG_DATA")}
    return subprocess.run(
        [sys.executable, "-m", "resreg", *args], capture_output=True, text=True, timeout=300, cwd=cwd,
        env={**environ, **(env or {})},
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if "warning" not in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def show(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["show", *args]) == 0
    return yaml.safe_load(capsys.readouterr().out)


# --- no data yet: data.type=synthetic -------------------------------------------------------------------------
def test_data_type_synthetic_replaces_the_imagenet_data_section(capsys):
    config = show(capsys, "resnet152", "data.type=synthetic")
    defaults = {k: p.default for k, p in get_registry().get("dataset", "synthetic").params.items()}
    # no data.root left over from ImageNet, but its shape: synthetic data stands in for ImageNet's images
    assert config["data"] == {"type": "synthetic", **defaults, "like": "imagefolder", "image_size": 224}
    assert config["eval"]["splits"] == ["val"] and config["train"]["preset"] == "imagenet_resnet"
    replaced = show(capsys, "resnet152", "data={_replace_: true, type: synthetic, num_images: 64}")
    assert replaced["data"]["num_images"] == 64 and "root" not in replaced["data"]


def test_in_memory_scale_crop_is_resize_then_crop():
    """train.augment.scale on in-memory images: the shorter side resized to the drawn length, then the crop."""
    images = torch.rand(3, 2, 12, 16, generator=torch.Generator().manual_seed(0))
    short = torch.tensor([24, 12, 30])  # x2, x1, x2.5
    where = torch.tensor([[0.0, 0.0], [0.999, 0.999], [0.5, 0.25]])
    out = apply_scale_crop(images, short, where, 10)
    for i, s in enumerate(short.tolist()):
        h, w = s, round(16 * s / 12)
        resized = F.interpolate(images[i : i + 1], size=(h, w), mode="bilinear", align_corners=False)
        top, left = (min(int(f * (n - 10 + 1)), n - 10) for f, n in zip(where[i].tolist(), (h, w), strict=True))
        assert torch.allclose(out[i], resized[0, :, top : top + 10, left : left + 10], atol=1e-5), i


def test_the_imagenet_recipe_runs_on_in_memory_images():
    source = synthetic(num_images=16, image_size=32)
    # the recipe of ImageNet: scale [256, 480], crop 224, lighting
    augment = build_recipe("imagenet_resnet", get_registry()).augment
    train = make_loader(source.train, batch_size=8, train=True, augment=augment, device=CPU, seed=0, stats=source)
    images, labels = next(train.batches(0))
    assert images.shape == (8, 3, 224, 224) and labels.shape == (8,)
    evaluation = make_loader(source.val, batch_size=4, train=False, augment=augment, device=CPU, seed=0, stats=source)
    assert next(evaluation.batches(0))[0].shape == (4, 3, 224, 224)
    with pytest.raises(ConfigError, match=r"train\.augment\.crop_size=64 exceeds .* set train\.augment\.scale"):
        make_loader(source.train, batch_size=8, train=True, augment=AugmentOptions(crop_size=64), device=CPU, seed=0,
                    stats=source)  # fmt: skip


@pytest.mark.parametrize("recipe", ["cifar_resnet", "cifar_densenet", "imagenet_resnet", "imagenet_densenet", "fast"])
def test_every_recipe_runs_on_synthetic_data(recipe, tmp_path):
    from resreg.engine.run import train

    config = {
        "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [4, 8, 8], "shortcut": "B"},
        "data": {"type": "synthetic", "num_images": 8, "image_size": 16},
        "train": {"preset": recipe, "length": "1 step", "batch_size": 4, "eval_every": "1 step"},
        "engine": {"progress": "none", "precision": "fp32", "channels_last": False},
        "eval": {"batch_size": 4},
    }
    config = validate_config(config, recipe, get_registry())
    assert train(config, source=recipe, registry=get_registry(), run_dir=tmp_path / "run") == "finished"
    assert (tmp_path / "run" / "model.safetensors").is_file()


# --- failures that say what to do -------------------------------------------------------------------------
def test_missing_imagenet_names_the_variable_data_root_and_synthetic(tmp_path):
    line = one_line_error(resreg_cli("train", "resnet18", cwd=tmp_path))
    assert "data.root data/imagenet does not exist" in line
    for advice in ("$IMAGENET", "train/ and val/", "data.type=synthetic"):
        assert advice in line, line


def test_a_data_root_that_does_not_exist_is_an_error_not_another_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("RESREG_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match=r"data\.root .*/nope does not exist; .*data\.type=synthetic"):
        fashion_mnist(root=str(tmp_path / "nope"))  # even with the files in /usr/share/datasets, and download on
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="fashion_mnist not found") as err:
        fashion_mnist(root=str(tmp_path / "empty"), download=False)
    assert "/usr/share/datasets" not in str(err.value)  # a given root is searched alone


@pytest.mark.skipif(not FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
def test_a_missing_data_root_fails_the_command_in_one_line(tmp_path):
    line = one_line_error(resreg_cli("train", "quickstart", f"data.root={tmp_path}/typo", cwd=tmp_path))
    assert f"fashion_mnist: data.root {tmp_path}/typo does not exist" in line


def test_an_evaluation_split_the_data_set_lacks_is_an_error():
    source = synthetic(num_images=8, image_size=4)
    assert list(eval_splits(source, None)) == ["val", "test"]  # null: every split there is
    assert list(eval_splits(source, ["test"])) == ["test"]
    no_val = dataclasses.replace(source, val=None)
    with pytest.raises(DataError, match=r"data set 'synthetic' has no 'val' split \(it has: test\); .*val_split"):
        eval_splits(no_val, ["val", "test"])
    with pytest.raises(ConfigError, match="did you mean 'test'"):
        eval_splits(source, ["tset"])


@pytest.mark.skipif(not FASHION.exists(), reason="apt-get install dataset-fashion-mnist")
def test_an_evaluation_split_the_data_set_lacks_fails_the_command(tmp_path):
    line = one_line_error(resreg_cli("train", "quickstart", "eval.splits=[val]", "data.limit=256", cwd=tmp_path))
    assert "eval.splits: data set 'fashion_mnist' has no 'val' split (it has: test)" in line
    assert "data.val_split=N" in line


def test_a_plateau_rule_without_a_val_split_is_refused():
    registry = get_registry()
    config = load_config("resnet18", ["eval.splits=[test]"])
    with pytest.raises(ConfigError, match=r"train\.schedule\.plateau_patience=5 watches the val error.*evaluates test"):
        validate_config(config, "resnet18", registry)
    recipe = build_recipe("imagenet_resnet", registry)
    with pytest.raises(ConfigError, match="plateau_patience"):
        recipe.check_eval_splits(["test"], "cifar10")  # null splits on a data set without val: found at build
    recipe.check_eval_splits(["val"], "imagefolder")


def test_shipped_configs_evaluate_splits_their_data_sets_have(capsys):
    """The CIFAR configs named [val, test] of a data set without val (val was skipped); now: every split there is."""
    for name in ("cifar10/resnet20", "cifar10/densenet40_k12"):
        config = show(capsys, name)
        assert config["eval"]["splits"] is None and config["data"]["val_split"] == 0, name
    imagenet = show(capsys, "resnet50")
    assert imagenet["eval"]["splits"] == ["val"] and imagenet["data"]["val_dir"] == "val"


# --- the complete resolved config ------------------------------------------------------------------------------
def test_show_writes_out_every_default(capsys, tmp_path):
    registry = get_registry()
    config = show(capsys, "cifar10/resnet20")
    assert list(config) == ["name", "model", "data", "train", "engine", "eval"]
    assert set(config["train"]) == {"preset"} | {f.name for f in dataclasses.fields(Recipe)}
    assert set(config["train"]["schedule"]) == {f.name for f in dataclasses.fields(ScheduleSection)}
    assert set(config["train"]["augment"]) == {f.name for f in dataclasses.fields(AugmentSection)}
    assert config["train"]["schedule"]["milestones"] == [32000, 48000]
    assert config["train"]["augment"]["normalize"] == "pixel"
    assert set(config["engine"]) == {f.name for f in dataclasses.fields(EngineOptions)}
    assert set(config["eval"]) == {f.name for f in dataclasses.fields(EvalOptions)}
    assert set(config["data"]) == {"type", *registry.get("dataset", "cifar10").params}
    assert "preset" not in config["model"] and config["model"]["type"] == "resnet"
    # the complete config reads back as itself (a run's config.yaml is what --resume and eval read)
    path = tmp_path / "config.yaml"
    assert main(["show", "cifar10/resnet20"]) == 0
    path.write_text(capsys.readouterr().out)
    assert validate_config(load_config(path), str(path), registry).to_dict() == config


def test_the_recipes_val_split_is_written_into_the_data_section(capsys):
    config = show(capsys, "cifar10/resnet20", "train.val_split=5000")
    assert config["data"]["val_split"] == 5000


@pytest.mark.slow
def test_the_no_data_path_trains_and_saves_the_complete_config(tmp_path):
    """What getting-started says: an ImageNet config on synthetic data, through the real command."""
    run = tmp_path / "run"
    overrides = ["data.type=synthetic", "data.num_images=16", "eval.batch_size=8", "model.depths=[1,1,1,1]"]
    overrides += ["train.batch_size=8", "train.length=1", "train.augment.crop_size=32", "train.augment.scale=[36,64]"]
    result = resreg_cli("train", "resnet18", *overrides, "--run-dir", str(run), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"] == {
        "type": "synthetic",
        "num_images": 16,
        "image_size": 224,
        "in_chans": None,
        "num_classes": None,
        "like": "imagefolder",
        "seed": 0,
    }  # fmt: skip  (ImageNet's shape)
    # the recipe's defaults
    assert saved["train"]["schedule"]["plateau_patience"] == 5 and saved["train"]["augment"]["lighting"] == 0.1
    assert saved["engine"]["checkpoint_every"] == 5000 and "ten_crop" in saved["eval"]
    from resreg.models import load_model

    cfg = load_model(run / "model.safetensors").pretrained_cfg  # evaluated as image folders are: resize, centre crop
    assert list(cfg["input_size"]) == [3, 32, 32] and cfg["crop_pct"] == 0.875


# --- snapshot ensembles refer to their members relative to the run directory ---------------------------------
def test_a_snapshot_ensemble_still_loads_after_the_run_dir_moves(tmp_path, monkeypatch):
    from resreg.engine.snapshots import save_snapshot, write_ensemble_config
    from resreg.models import create_model

    monkeypatch.chdir(tmp_path)
    run = Path("runs") / "snap"
    model = create_model(
        {"preset": "resnet20", "depths": [1, 1, 1], "widths": [4, 8, 8], "shortcut": "B"}, num_classes=3
    )
    for index in (1, 2):
        save_snapshot(run, model, index, step=index)
    config = {"name": "snap", "data": {"type": "synthetic", "num_classes": 3}}
    write_ensemble_config(run, config)
    text = (run / "ensemble.yaml").read_text()
    assert str(tmp_path) not in text  # nothing absolute
    moved = tmp_path / "elsewhere" / "snap"
    shutil.move(str(tmp_path / run), moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = load_config(moved / "ensemble.yaml")
    assert loaded["model"]["members"] == [str(moved / "snapshots" / f"snapshot{i}.safetensors") for i in (1, 2)]
    ensemble = create_model(loaded["model"]).eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(ensemble(x).exp(), model.eval()(x).softmax(-1), atol=1e-5)  # two copies: the model


# --- the README -----------------------------------------------------------------------------------------------
def test_the_readme_tour_names_configs_and_runs_that_exist():
    readme = (ROOT / "README.md").read_text()
    for config in re.findall(r"^resreg (?:show|train) ([\w/.-]+)", readme, flags=re.MULTILINE):
        assert find_config(config).is_file(), config
    assert load_config("cifar10/resnet20")["name"] == "cifar10-resnet20"  # a config's name: its run dir
    for run in re.findall(r"runs/([\w.-]+)", readme):
        name = re.sub(r"-\d+$", "", run)  # a second run of a config: runs/<name>-2
        assert name in {"cifar10-resnet20", "cifar10-plain20", "quickstart", "quickstart-snapshots"}, run
    assert "apt-get update &&" in readme


# --- paths into a run directory where a config belongs (issue 22 item 8) -------------------------------------


def one_line(cli_result) -> str:
    assert cli_result.status == 2 and cli_result.err.count("\n") == 1, cli_result.err
    return cli_result.err.strip()


def test_train_of_a_run_directory_suggests_resume(cli, stopped_run):
    err = one_line(cli("train", str(stopped_run)))
    assert err == (
        f"resreg train: error: {stopped_run} is a run directory, not a config: `resreg train --resume "
        f"{stopped_run}` continues it; a new run takes a config (this run's is {stopped_run}/config.yaml)"
    )


def test_eval_of_a_training_checkpoint_points_to_its_run_directory(cli, stopped_run):
    last = stopped_run / "checkpoints" / "last.pt"
    err = one_line(cli("eval", str(last)))
    assert err == (
        f"resreg eval: error: {last} is a training checkpoint, not a config: use its run directory: "
        f"resreg eval {stopped_run} --checkpoint last"
    )
    assert "utf-8" not in err


def test_eval_of_a_misspelt_run_directory_suggests_the_existing_one(cli, stopped_run):
    err = one_line(cli("eval", str(stopped_run.parent / "quickstrt")))
    assert f"unknown run directory '{stopped_run.parent / 'quickstrt'}' (did you mean '{stopped_run}'?" in err
    # a bare name is still a shipped config's typo, whatever run directories the folder holds
    assert "did you mean 'quickstart'?" in one_line(cli("eval", "quickstrt"))


# --- one spelling of --input-size ------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", [["40", "40"], ["40"], ["40,40"], ["3", "40", "40"], ["3,40,40"]])
def test_summary_and_export_take_the_same_input_size_spellings(cli, tmp_path, spelling):
    from resreg.models import create_model
    from resreg.weights import save_model

    summary = cli("summary", "resnet20", "--input-size", *spelling)
    assert summary.status == 0 and "input 3x40x40" in summary.out, summary.err
    save_model(create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / "m.safetensors")
    export = cli("export", str(tmp_path / "m.safetensors"), "--format", "pt2", "--input-size", *spelling)
    assert export.status == 0, export.err
    program = torch.export.load(str(tmp_path / "m.pt2"))
    assert program.module()(torch.randn(2, 3, 40, 40)).shape == (2, 10)  # traced at 40x40


def test_a_wrong_channel_count_or_a_bad_input_size_is_one_line_in_both_commands(cli, tmp_path):
    from resreg.models import create_model
    from resreg.weights import save_model

    save_model(create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / "m.safetensors")
    export = ["export", str(tmp_path / "m.safetensors"), "--format", "pt2", "--input-size"]
    for command in (["summary", "resnet20", "--input-size"], export):
        assert "--input-size: expected H W (or one number for a square)" in one_line(cli(*command, "x,32"))
        assert "the model takes 3 channel(s), not 1" in one_line(cli(*command, "1,32,32"))
    assert not (tmp_path / "m.pt2").exists()


# --- export of an ensemble config ------------------------------------------------------------------------------
@pytest.mark.slow
def test_export_takes_an_ensemble_config_as_eval_does(cli, tmp_path):
    from resreg.models import create_model
    from resreg.weights import save_model

    members = [create_model({"preset": "resnet20", "depths": [1, 1, 1]}, num_classes=4).eval() for _ in range(2)]
    for i, member in enumerate(members):
        save_model(member, tmp_path / f"m{i}.safetensors")
    config = tmp_path / "ensemble.yaml"
    paths = ", ".join(f'"${{config_dir}}/m{i}.safetensors"' for i in range(2))
    config.write_text(f"model: {{type: ensemble, combiner: mean_probs, members: [{paths}]}}\n")
    result = cli("export", str(config), "--format", "pt2")
    assert result.status == 0 and result.out.strip() == str(tmp_path / "ensemble.pt2"), result.err
    x = torch.randn(2, 3, 32, 32)
    expected = torch.stack([m(x).softmax(-1) for m in members]).mean(0)
    exported = torch.export.load(str(tmp_path / "ensemble.pt2")).module()(x)
    assert torch.allclose(exported.exp(), expected, atol=1e-5)  # the ensemble's mean probabilities, as a log


def test_export_of_a_config_without_weights_says_what_it_takes(cli, tmp_path):
    err = one_line(
        cli("export", str(ROOT / "configs/quickstart.yaml"), "--format", "onnx", "-o", str(tmp_path / "q.onnx"))
    )
    assert "a config's model has no trained weights to export; export takes a run dir, a .safetensors file" in err
    assert "or an ensemble config (ensemble.yaml)" in err and not (tmp_path / "q.onnx").exists()


# --- the docs a new user reads first ---------------------------------------------------------------------------
def test_the_docs_name_the_quickstart_model_as_its_config_builds_it():
    depths = load_config("quickstart")["model"]["depths"]
    name = f"ResNet-{2 * sum(depths) + 2}"  # basic blocks of two 3x3 convs, plus the stem conv and the classifier
    for doc in ("README.md", "docs/getting-started.md", "docs/using-a-model.md"):
        lines = [line for line in (ROOT / doc).read_text().splitlines() if "quickstart" in line.lower()]
        named = {m for line in lines for m in re.findall(r"ResNet-\d+", line)}
        assert named == {name}, (doc, named)


def test_the_mapping_overrides_getting_started_shows_work(cli):
    text = (ROOT / "docs/getting-started.md").read_text()
    overrides = re.findall(r"`([\w.]+=\{[^`]*\})`", text)
    assert len(overrides) >= 2, overrides
    for override in overrides:
        result = cli("show", "quickstart", override)
        assert result.status == 0, (override, result.err)
    before = yaml.safe_load(cli("show", "quickstart").out)["train"]["schedule"]
    after = yaml.safe_load(cli("show", "quickstart", "train.schedule={warmup: 0.1}").out)["train"]["schedule"]
    assert after == {**before, "warmup": 0.1}  # merged: the rest of the schedule kept, as the page says


def test_the_readme_and_testing_page_state_no_test_counts_or_times_that_go_stale():
    for doc in ("README.md", "docs/testing.md"):
        text = (ROOT / doc).read_text()
        assert not re.search(r"\b\d+ tests\b", text), doc
        assert not re.search(r"\b\d+(\.\d+)? ?min(utes)?\b", text), doc


def test_run_and_sweep_folders_are_ignored_by_git():
    ignored = set((ROOT / ".gitignore").read_text().split())
    assert {"runs/", "sweeps/"} <= ignored
