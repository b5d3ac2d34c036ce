"""`resreg predict` and `resreg.predict`: your own images through a model's saved preprocessing.

The round trip is the real thing: a short quickstart run on the real Fashion-MNIST, pushed to the
local Hub (tests/hub_server.py) by `resreg push` in its own process, then `resreg predict
hf-hub:...` in a fresh process with an empty cache on PNG files written from the test set. Its top-1
classes must be those of the run's model on the tensors `resreg eval` feeds it for those images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import resreg
from resreg.artifact import Preprocessing
from resreg.cli.main import main
from resreg.errors import ConfigError
from resreg.models import architecture_of, load_model
from resreg.plugins import get_registry
from resreg.prediction import ImageWarning, predict
from resreg.weights import save_model

sys.path.insert(0, str(Path(__file__).parent))
from hub_server import HubServer
from image_files import write_16_bit_copy, write_png_bomb

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture
def grey_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = resreg.create_model("resnet20", in_chans=1, depths=[1, 1, 1]).eval()
    Preprocessing((1, 28, 28), (0.29,), (0.35,), label_names=FASHION).attach(model)
    return model


@pytest.fixture
def images(tmp_path) -> Path:
    """A grey PNG, a colour JPEG of another size, a PNG with alpha in a sub-folder, and a broken file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    (folder / "more").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (28, 28), np.uint8), "L").save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), np.uint8), "RGB").save(folder / "colour.jpg")
    Image.fromarray(rng.integers(0, 256, (20, 20, 4), np.uint8), "RGBA").save(folder / "more" / "alpha.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def test_predict_takes_files_folders_and_images_and_names_a_bad_one(grey_model, images):
    with pytest.warns(ImageWarning) as caught:
        results = predict(grey_model, [images, Image.new("RGB", (50, 50)), images / "missing.png"], top_k=3)
    assert any("broken.png: not an image resreg can read" in str(w.message) for w in caught)
    assert [r.image for r in results] == [
        str(images / "colour.jpg"), str(images / "grey.png"), str(images / "more" / "alpha.png"), "<image 1>",
    ]  # fmt: skip
    assert any("missing.png: no such file" in str(w.message) for w in caught)
    for r in results:
        assert len(r.indices) == 3 and r.labels == [FASHION[i] for i in r.indices]
        assert r.probabilities == sorted(r.probabilities, reverse=True) and 0 < sum(r.probabilities) <= 1 + 1e-6
    prepared = torch.zeros(2, 1, 28, 28)  # tensors are taken as already prepared
    (first, second) = predict(grey_model, prepared, top_k=1)
    with torch.no_grad():
        assert first.indices == [int(grey_model(prepared[:1]).argmax())] and second.image == "<image 1>"


def test_a_model_in_training_mode_predicts_as_it_evaluates_and_is_left_training(grey_model):
    """Batch norm with its running statistics, not the batch's (images far from them show the difference);
    afterwards the caller's training goes on in training mode."""
    batch = torch.randn(4, 1, 28, 28) * 3 + 2
    with torch.no_grad():
        expected = grey_model(batch).softmax(1).max(1)
    results = predict(grey_model.train(), batch, top_k=1)
    assert grey_model.training
    assert [r.indices[0] for r in results] == expected.indices.tolist()
    assert [r.probabilities[0] for r in results] == pytest.approx(expected.values.tolist(), abs=1e-6)


def test_predict_refuses_a_features_model(images):
    with pytest.raises(ConfigError, match="features-only"):
        predict(resreg.create_model("resnet20", features_only=True), images)


def test_predict_command_prints_one_line_per_image_and_exit_statuses(grey_model, images, tmp_path, capsys):
    weights = save_model(grey_model, tmp_path / "m.safetensors")
    assert main(["predict", str(weights), str(images / "grey.png"), str(images / "broken.png"), "--top-k", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{images / 'grey.png'}: ") and out.count("\n") == 1 and out.count(",") == 1
    assert err.count("\n") == 1 and "broken.png: not an image resreg can read" in err
    assert main(["predict", str(weights), str(images / "broken.png"), "--json"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[-1].startswith("resreg predict: error: none of the 1 image(s) could be classified")


def test_a_16_bit_png_predicts_as_the_same_picture_in_8_bits(grey_model, tmp_path):
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (28, 28), np.uint8), "L")
    picture.save(tmp_path / "eight.png")
    write_16_bit_copy(picture, tmp_path / "sixteen.png")  # PIL alone would read it as almost all white
    eight, sixteen = predict(grey_model, [tmp_path / "eight.png", tmp_path / "sixteen.png"], top_k=10)
    assert sixteen.indices == eight.indices and sixteen.probabilities == eight.probabilities


def test_predict_command_warns_of_a_bomb_and_classifies_the_rest(grey_model, images, tmp_path, capsys):
    weights = save_model(grey_model, tmp_path / "m.safetensors")
    bomb = write_png_bomb(tmp_path / "bomb.png", 30000)  # 875 KB, 900 MB decoded
    assert main(["predict", str(weights), str(bomb), str(images / "grey.png"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert [p["image"] for p in json.loads(out)["predictions"]] == [str(images / "grey.png")]
    assert err.count("\n") == 1 and err.startswith(f"resreg: warning: {bomb}: the image declares more pixels than")
    assert "decompression bomb" in err


def test_predict_of_a_snapshot_runs_ensemble_yaml_averages_its_members(tmp_path, images, capsys):
    """ensemble.yaml as `resreg train` writes it, members prepared with their per-pixel mean image."""
    from resreg.engine.snapshots import SNAPSHOT_DIR, write_ensemble_config

    run = tmp_path / "run"
    mean_image = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    members = []
    for i in (1, 2):
        torch.manual_seed(i)
        member = resreg.create_model("resnet20", in_chans=1, depths=[1, 1, 1]).eval()
        Preprocessing((1, 28, 28), (0.29,), (0.35,), label_names=FASHION, mean_image=mean_image).attach(member)
        members.append(member)
        save_model(member, run / SNAPSHOT_DIR / f"snapshot{i}.safetensors")
    ensemble_yaml = write_ensemble_config(run, {"name": "snap", "data": {"type": "fashion_mnist"}})
    assert main(["predict", str(ensemble_yaml), str(images / "grey.png"), "--top-k", "10", "--json"]) == 0
    (got,) = json.loads(capsys.readouterr().out)["predictions"]
    expected = torch.zeros(10)  # mean_probs: the mean of the members' probabilities
    for member in members:
        (p,) = predict(member, [images / "grey.png"], top_k=10)
        expected[p.indices] += torch.tensor(p.probabilities) / 2
    assert [t["index"] for t in got["top"]] == expected.argsort(descending=True).tolist()
    assert [t["label"] for t in got["top"]] == [FASHION[t["index"]] for t in got["top"]]
    assert torch.allclose(torch.tensor([t["probability"] for t in got["top"]]), expected.sort(descending=True).values)


def test_predict_of_a_config_without_weights_says_what_predict_takes(tmp_path, images, capsys):
    config = tmp_path / "fresh.yaml"
    config.write_text("model: resnet20\ndata: fashion_mnist\n")
    assert main(["predict", str(config), str(images / "grey.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{config}: its model names no weights to predict with" in err
    assert "a run dir, a .safetensors file" in err and "ensemble.yaml" in err


# --- the round trip ------------------------------------------------------------------------------------
def _env(hub: HubServer, home: Path) -> dict[str, str]:
    return {
        **os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN": "hf_resreg_test_token", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "RESREG_DEBUG": "",
    }  # fmt: skip


def _run(hub: HubServer, home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=_env(hub, home))
    assert result.returncode == 0, result.stderr
    return result


def _evaluator_top1(run_dir: Path, count: int) -> tuple[list[int], torch.Tensor]:
    """The run's model on the tensors `resreg eval RUN_DIR` feeds it for the first `count` test images."""
    from resreg.config import validate_config
    from resreg.data.loader import make_loader
    from resreg.engine import rundir
    from resreg.engine.assemble import build_data
    from resreg.plugins import get_registry

    registry = get_registry()
    config = validate_config(rundir.read_run_config(run_dir, []), str(run_dir), registry)
    recipe = config.recipe
    data = build_data(config, registry)
    test = data.test.head(count)
    loader = make_loader(test, batch_size=count, train=False, augment=recipe.augment,
                         device=torch.device("cpu"), seed=0, stats=data)  # fmt: skip
    ((x, _),) = list(loader.batches(0))
    with torch.no_grad():
        return load_model(run_dir).eval()(x).argmax(1).tolist(), test.images


@pytest.mark.slow
def test_a_pushed_quickstart_run_predicts_in_a_fresh_process_as_its_evaluator_scores(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["data.limit=512", "data.val_split=256", "train.length=1", "eval.splits=[val]",
                 "engine.precision=fp32", "engine.progress=none"]  # fmt: skip
    assert main(["train", "quickstart", *overrides, "--run-dir", str(run_dir)]) == 0
    expected, test_images = _evaluator_top1(run_dir, 40)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for i, image in enumerate(test_images):
        Image.fromarray(image[0].numpy(), "L").save(pngs / f"{i:03d}.png")
    (pngs / "zz-broken.png").write_bytes(b"not an image")
    with HubServer() as hub:
        _run(hub, tmp_path / "push-home", sys.executable, "-m", "resreg", "push", str(run_dir), "me/quickstart")
        fresh = tmp_path / "fresh-home"  # an empty cache: predict downloads the repo itself
        result = _run(
            hub, fresh, sys.executable, "-m", "resreg", "predict", "hf-hub:me/quickstart", str(pngs), "--json"
        )
        code = (
            "import json, resreg, torch\n"
            "m = resreg.create_model('hf-hub:me/quickstart').eval()\n"
            "x = torch.zeros(1, *m.pretrained_cfg['input_size'])\n"
            "print(json.dumps({'labels': m.label_names, 'cfg': m.pretrained_cfg, 'logits': m(x).tolist()}))\n"
        )
        created = json.loads(_run(hub, fresh, sys.executable, "-c", code).stdout.splitlines()[-1])
        repo = hub.repos["me/quickstart"]
        files = repo.commits[repo.branches["main"]]
    predicted = json.loads(result.stdout)
    assert [p["image"] for p in predicted["predictions"]] == [str(pngs / f"{i:03d}.png") for i in range(40)]
    assert [p["top"][0]["index"] for p in predicted["predictions"]] == expected
    assert all(p["top"][0]["label"] == FASHION[p["top"][0]["index"]] for p in predicted["predictions"])
    assert len(predicted["failed"]) == 1 and "zz-broken.png" in predicted["failed"][0]
    assert "zz-broken.png: not an image resreg can read" in result.stderr
    # create_model("hf-hub:...") rebuilt the same model, with its preprocessing and names
    local = load_model(run_dir).eval()
    with torch.no_grad():
        assert torch.allclose(torch.tensor(created["logits"]), local(torch.zeros(1, 1, 28, 28)), atol=1e-6)
    assert created["labels"] == FASHION and created["cfg"]["input_size"] == [1, 28, 28]
    # the repo speaks timm's config.json and the Hub's model-index
    config = json.loads(files["config.json"])
    assert config["architecture"] == architecture_of(local.resreg_spec, get_registry())  # see test_artifact
    assert config["num_classes"] == 10 and config["label_names"] == FASHION
    assert (
        config["pretrained_cfg"]["mean"] == list(local.pretrained_cfg["mean"]) and config["model_args"]["in_chans"] == 1
    )
    assert config["resreg"]["spec"] == local.resreg_spec
    assert yaml.safe_load(files["resreg.yaml"])["pretrained_cfg"]["label_names"] == FASHION
    card = files["README.md"].decode()
    assert "resreg predict hf-hub:me/quickstart" in card and 'resreg.create_model("hf-hub:me/quickstart")' in card
    front = yaml.safe_load(card.split("---\n")[1])
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final_error = [r["val_error"] for r in rows if "val_error" in r][-1]
    (result_entry,) = front["model-index"][0]["results"]
    assert result_entry["dataset"] == {"type": "fashion_mnist", "name": "fashion_mnist", "split": "val"}
    final_top5_error = [r["val_top5_error"] for r in rows if "val_error" in r][-1]
    assert result_entry["metrics"] == [
        {"type": "accuracy", "name": "Top-1 accuracy", "value": round(100 * (1 - final_error), 2)},
        {"type": "accuracy", "name": "Top-5 accuracy", "value": round(100 * (1 - final_top5_error), 2)},
    ]
