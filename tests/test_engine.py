"""The training engine in-process: schedules, recipes, test-time views, the run directory, bf16 and
channels_last on the CPU, EMA and clipping, NaN stops, and the CLI's one-line errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tiny_run import TINY, tiny_config

import resreg
from resreg.cli.main import main
from resreg.config import load_config, validate_config
from resreg.config.options import EvalOptions
from resreg.engine.evaluate import views
from resreg.engine.run import train
from resreg.plugins import get_registry


# --- configs (the recipes: tests/test_recipes.py; the schedule: tests/test_schedule.py) -----------------------
def test_every_shipped_config_validates():
    from resreg.config import list_shipped_configs

    names = list_shipped_configs()
    assert {"quickstart", "cifar10/resnet110", "resnet152", "cifar10/densenet40_k12"} <= set(names)
    for name in names:
        config = validate_config(load_config(name), name, get_registry())
        assert None not in (config.model, config.data, config.recipe), name


# --- evaluation views ----------------------------------------------------------------------------
def test_ten_crop_views_are_torchvisions_ten_crop_of_each_resized_image():
    """He et al. 3.4: each image resized by 8/7 (28 -> 32), then torchvision's ten crops of it, image by image."""
    from torchvision.transforms.v2.functional import resize, ten_crop

    images = torch.rand(3, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    crops = views(images, EvalOptions(ten_crop=True))
    assert len(crops) == 10 and all(c.shape == images.shape for c in crops)
    for i, image in enumerate(images):
        expected = ten_crop(resize(image, [32], antialias=True), [28, 28])
        for k, (view, reference) in enumerate(zip(crops, expected, strict=True)):
            assert torch.allclose(view[i], reference, atol=1e-5), f"image {i}, crop {k}"
    # The ten views are ten different images (corners, centre, and their mirrors), none the input itself.
    assert len({tuple(view[0].flatten().tolist()) for view in crops}) == 10
    assert not any(torch.allclose(view, images) for view in crops)
    # torchvision's order: top-left, top-right, bottom-left, bottom-right, centre, then the same of the mirror
    # image (whose top-left corner is the mirrored top-right one).
    assert torch.equal(crops[5], crops[1].flip(-1)) and torch.equal(crops[9], crops[4].flip(-1))


def test_multi_scale_views_resize_the_shorter_side():
    images = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    scaled = views(images, EvalOptions(scales=[28, 32]))
    assert [v.shape[-1] for v in scaled] == [28, 32]
    assert torch.equal(scaled[0], images)
    reference = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(scaled[1], reference)
    assert len(views(images, EvalOptions())) == 1


# --- whole runs in-process -----------------------------------------------------------------------
def test_a_run_writes_its_directory(tmp_path):
    from resreg.models import load_model

    run_dir = tmp_path / "run"
    assert train(tiny_config(), source="tiny", registry=get_registry(), run_dir=run_dir) == "finished"
    assert {p.name for p in run_dir.iterdir()} >= {"config.yaml", "metrics.jsonl", "metrics.csv", "model.safetensors"}
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "train_loss" in r]
    assert [r["step"] for r in train_rows] == [3, 6, 9, 12]
    assert all(math.isfinite(r["train_loss"]) and r["images_per_s"] > 0 for r in train_rows)
    assert [r["step"] for r in rows if "test_error" in r] == [6, 12]
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == ["step", "epoch", "train_loss", "train_error", "val_loss", "val_error", "val_top5_error",
                      "test_loss", "test_error", "test_top5_error", "lr", "images_per_s"]  # fmt: skip
    assert all(0 <= r["test_top5_error"] <= r["test_error"] for r in rows if "test_error" in r)  # the record has top-5
    for name in ("last.pt", "best.pt"):
        state = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert state["step"] in (6, 12)
    model = load_model(run_dir / "model.safetensors")
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 4)


def test_bf16_autocast_and_channels_last_train_on_the_cpu(tmp_path):
    config = tiny_config(engine={"precision": "bf16", "channels_last": True})
    assert train(config, source="tiny", registry=get_registry(), run_dir=tmp_path) == "finished"
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["train_loss"]) for r in rows if "train_loss" in r)


def test_ema_and_gradient_clipping(tmp_path):
    config = tiny_config(engine={"ema": 0.9, "grad_clip": 1.0})
    assert train(config, source="tiny", registry=get_registry(), run_dir=tmp_path) == "finished"
    assert "ema" in torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)


def test_a_nan_loss_stops_with_exit_2_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    overrides = ["train.lr=1.0e+30", "train.schedule.warmup=0", "engine.log_every=1", "engine.checkpoint_every=1"]
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps(TINY))
    assert main(["train", str(config_file), *overrides, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "training loss became" in err and err.count("\n") == 1
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert 1 <= state["step"] < 12
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_missing_data_set_is_exit_2_with_a_message(tmp_path, capsys):
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps({**TINY, "data": {"type": "cifar10", "root": str(tmp_path / "none")}}))
    assert main(["train", str(config_file), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "cifar" in err.lower() and str(tmp_path / "none") in err and err.count("\n") == 1


def test_unknown_recipe_suggests(tmp_path, capsys):
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(json.dumps({**TINY, "train": {"preset": "cifar_resnt"}}))
    assert main(["train", str(config_file)]) == 2
    assert "did you mean 'cifar_resnet'" in capsys.readouterr().err


@pytest.mark.parametrize("normalize", ["channel", "pixel"])
def test_eval_command_on_a_run_and_on_its_weights(tmp_path, capsys, normalize):
    """A weights file alone is evaluated as its run is: normalised as its header records (pixel: the mean image)."""
    run_dir = tmp_path / "run"
    train(
        tiny_config(train={"augment": {"normalize": normalize}}),
        source="tiny",
        registry=get_registry(),
        run_dir=run_dir,
    )
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--json"]) == 0
    from_run = json.loads(capsys.readouterr().out)
    assert 0.0 <= from_run["test_error"] <= 1.0
    data = json.dumps(TINY["data"]).replace(" ", "")
    assert main(["eval", str(run_dir / "model.safetensors"), f"data={data}", "--json"]) == 0
    from_weights = json.loads(capsys.readouterr().out)
    assert from_weights["test_error"] == from_run["test_error"]
    assert from_weights["test_loss"] == pytest.approx(from_run["test_loss"], rel=1e-5)


def test_training_callbacks_are_hooks(tmp_path):
    from resreg.plugins import get_plugins

    calls: list[str] = []

    class Recorder:
        @resreg.hookimpl
        def resreg_run_start(self, run):
            calls.append(f"start {run.step}")

        @resreg.hookimpl
        def resreg_step_end(self, run, metrics):
            calls.append(f"step {run.step} {metrics['loss'] > 0}")

        @resreg.hookimpl
        def resreg_eval_end(self, run, metrics):
            calls.append(f"eval {run.step} {'test_error' in metrics}")

        @resreg.hookimpl
        def resreg_checkpoint_saved(self, run, path):
            calls.append(f"saved {path.name}")

        @resreg.hookimpl
        def resreg_run_end(self, run, metrics):
            calls.append(f"end {run.step}")

    plugins = get_plugins()
    recorder = Recorder()
    plugins.manager.register(recorder)
    try:
        train(tiny_config(), source="tiny", registry=get_registry(), run_dir=tmp_path, hook=plugins.hook)
    finally:
        plugins.manager.unregister(recorder)
    assert calls[0] == "start 0" and calls[-1] == "end 12"
    assert "step 3 True" in calls and "eval 6 True" in calls and "saved last.pt" in calls and "saved best.pt" in calls


def test_tensorboard_option_logs_or_warns(tmp_path):
    import importlib.util

    from resreg.plugins import get_plugins

    config = tiny_config(engine={"tensorboard": True})
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.warns(UserWarning, match="tensorboard is not installed"):
            train(config, source="tiny", registry=get_registry(), run_dir=tmp_path, hook=get_plugins().hook)
    else:
        train(config, source="tiny", registry=get_registry(), run_dir=tmp_path, hook=get_plugins().hook)
        assert any((tmp_path / "tb").iterdir())


@pytest.mark.compile  # opt-in (a cold compile takes about 30 s): pytest -m compile
def test_torch_compile_trains(tmp_path):
    config = tiny_config(engine={"compile": True})
    assert train(config, source="tiny", registry=get_registry(), run_dir=tmp_path) == "finished"
