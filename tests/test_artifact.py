"""A saved model carries how to prepare images for it and its class names, and gets them back when loaded.

Real runs on the real Fashion-MNIST (tiny: 256 images, 4 steps), real safetensors files, and the
untrusted side: a header or a timm config.json whose record is wrong is refused in one line.
"""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from PIL import Image

import resreg
from resreg.artifact import HEADER_KEY, MEAN_IMAGE_KEY, Preprocessing
from resreg.config import validate_config
from resreg.engine.assemble import build_data
from resreg.engine.run import train
from resreg.errors import WeightsError
from resreg.models import architecture_of, load_model
from resreg.plugins import get_registry
from resreg.transforms import create_eval_transform
from resreg.weights import read_safetensors, save_model

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
TINY = {
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [4, 8, 8], "shortcut": "B"},
    "data": {"type": "fashion_mnist", "limit": 256, "val_split": 64},
    "train": {"preset": "fast", "unit": "step", "length": 4, "batch_size": 32, "eval_every": 4,
              "schedule": {"warmup": 0}},
    "engine": {"log_every": 2, "checkpoint_every": 100, "progress": "none"},
    "eval": {"splits": ["val"], "batch_size": 500},
}


@pytest.fixture(scope="module", params=["channel", "pixel"])
def run(request, tmp_path_factory) -> dict:
    """A tiny Fashion-MNIST run with channel or per-pixel mean normalisation, and its data as the run saw it."""
    registry = get_registry()
    recipe = {**TINY["train"], "augment": {"normalize": request.param}}
    config = validate_config({**TINY, "train": recipe}, "tiny", registry)
    run_dir = tmp_path_factory.mktemp(f"run-{request.param}")
    assert train(config, source="tiny", registry=registry, run_dir=run_dir) == "finished"
    augment = config.recipe.augment
    return {"dir": run_dir, "data": build_data(config, registry), "augment": augment, "mode": request.param}


def test_a_run_saves_its_preprocessing_and_class_names(run):
    model = load_model(run["dir"])
    data, cfg = run["data"], model.pretrained_cfg
    assert cfg["input_size"] == (1, 28, 28) and cfg["crop_pct"] == 1.0 and cfg["interpolation"] == "bilinear"
    assert cfg["mean"] == pytest.approx(data.mean) and len(cfg["mean"]) == len(cfg["std"]) == 1  # grey: one each
    assert model.label_names == FASHION == cfg["label_names"]
    assert cfg["first_conv"] == "conv1" and cfg["classifier"] == "fc"  # the builder's keys are kept
    tensors, header = read_safetensors(run["dir"] / "model.safetensors")
    if run["mode"] == "pixel":  # the mean image is a tensor in the file, and comes back
        assert torch.equal(tensors[MEAN_IMAGE_KEY], data.stats.mean_image)
        assert torch.equal(model.resreg_mean_image, data.stats.mean_image)
        assert json.loads(header[HEADER_KEY])["normalize"] == "pixel"
    else:
        assert MEAN_IMAGE_KEY not in tensors and model.resreg_mean_image is None


def test_the_eval_transform_gives_exactly_what_the_evaluator_feeds(run):
    from resreg.data.loader import make_loader

    data = run["data"]
    test = data.test.head(64)
    loader = make_loader(test, batch_size=64, train=False, augment=run["augment"], device=torch.device("cpu"),
                         seed=0, stats=data)  # fmt: skip
    ((evaluated, _),) = list(loader.batches(0))
    transform = create_eval_transform(load_model(run["dir"]))
    prepared = torch.stack([transform(Image.fromarray(image[0].numpy(), mode="L")) for image in test.images])
    torch.testing.assert_close(prepared, evaluated, rtol=0, atol=1e-6)
    rgb = transform(Image.fromarray(test.images[0, 0].numpy(), mode="L").convert("RGB").resize((56, 56)))
    assert rgb.shape == (1, 28, 28)  # colour and size of the user's image are converted to the model's


def test_a_builders_rgb_guess_is_not_saved_for_a_grey_model(tmp_path):
    model = resreg.create_model("resnet20", in_chans=1)  # pretrained_cfg still holds ImageNet's 3 means
    _, header = read_safetensors(save_model(model, tmp_path / "m.safetensors"))
    assert HEADER_KEY not in header


def test_every_preprocessing_value_survives_the_file(tmp_path):
    """Each value away from its default: a run's record holds crop_pct 1, bilinear and center, the defaults, so
    a value the file did not keep would come back the same from those runs."""
    model = resreg.create_model("resnet20", in_chans=1, depths=[1, 1, 1])
    record = Preprocessing((1, 24, 20), (0.3,), (0.35,), "bicubic", 0.9, "squash", label_names=FASHION)
    record.attach(model)
    assert Preprocessing.of_model(load_model(save_model(model, tmp_path / "m.safetensors"))) == record


def _with_record(tmp_path, record: dict, mean_image: torch.Tensor | None = None):
    model = resreg.create_model("resnet20", in_chans=1, depths=[1, 1, 1])
    path = save_model(model, tmp_path / "m.safetensors")
    tensors, header = read_safetensors(path)
    header[HEADER_KEY] = json.dumps(record)
    if mean_image is not None:
        tensors[MEAN_IMAGE_KEY] = mean_image
    safetensors.torch.save_file(tensors, str(path), metadata=header)
    return path


GOOD = {"input_size": [1, 28, 28], "mean": [0.3], "std": [0.35], "crop_pct": 1.0, "label_names": FASHION}


@pytest.mark.parametrize(
    ("change", "mean_image", "message"),
    [
        ({"mean": [0.5, 0.5, 0.5]}, None, "pretrained_cfg.mean must be 1 number(s)"),
        ({"std": [0.0]}, None, "pretrained_cfg.std must be positive"),
        ({"input_size": [1, 28, 10**9]}, None, "exceeds 16384 pixels"),
        ({"crop_pct": 7}, None, "crop_pct must be a number in [0.05, 1]"),
        ({"interpolation": "os.system"}, None, "interpolation 'os.system' is not one of"),
        ({"label_names": [1, 2]}, None, "label_names must be a list of at most"),
        ({"label_names": ["a"], "num_classes": 10}, None, "1 label_names for num_classes=10"),
        ({"normalize": "pixel"}, None, "no 'resreg_preprocess.mean_image' tensor came with it"),
        ({"normalize": "pixel"}, torch.zeros(1, 5, 5), "has shape (1, 5, 5), the input_size is (1, 28, 28)"),
        ({"normalize": "pixel"}, torch.full((1, 28, 28), float("nan")), "values that are not finite"),
    ],
)
def test_a_bad_record_in_a_file_is_refused_in_one_line(tmp_path, change, mean_image, message):
    path = _with_record(tmp_path, {**GOOD, **change}, mean_image)
    with pytest.raises(WeightsError) as error:
        load_model(path)
    assert message in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_timm_config_json_brings_its_preprocessing(tmp_path):
    model = resreg.create_model("resnet18", num_classes=3)
    safetensors.torch.save_file(model.state_dict(), str(tmp_path / "model.safetensors"))  # timm's file: no spec
    cfg = {"input_size": [3, 160, 160], "interpolation": "bicubic", "crop_pct": 0.95, "mean": [0.5] * 3,
           "std": [0.25] * 3, "hf_hub_id": "someone/else", "license": "apache-2.0"}  # fmt: skip
    config = {"architecture": "resnet18.a1_test", "num_classes": 3, "pretrained_cfg": cfg,
              "label_names": {"0": "cat", "1": "dog", "2": "cow"}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = load_model(tmp_path)
    assert loaded.label_names == ["cat", "dog", "cow"]
    assert loaded.pretrained_cfg["crop_pct"] == 0.95 and loaded.pretrained_cfg["input_size"] == (3, 160, 160)
    assert "hf_hub_id" not in loaded.pretrained_cfg  # only the allowlisted preprocessing keys are taken
    resize = create_eval_transform(loaded).transforms[1]
    assert resize.size == 168 and resize.interpolation.value == "bicubic"  # floor(160 / 0.95)
    (tmp_path / "config.json").write_text(json.dumps({**config, "pretrained_cfg": {**cfg, "mean": "0.5"}}))
    with pytest.raises(WeightsError, match=r"config.json: pretrained_cfg: pretrained_cfg.mean must be 3 number"):
        load_model(tmp_path)


def test_create_model_from_a_local_dir_applies_overrides_as_timm_does(tmp_path):
    torch.manual_seed(0)
    model = resreg.create_model("resnet20", in_chans=1, depths=[1, 1, 1]).eval()
    Preprocessing((1, 28, 28), (0.3,), (0.35,), label_names=FASHION).attach(model)
    save_model(model, tmp_path / "model.safetensors")
    x = torch.randn(2, 1, 28, 28)
    same = resreg.create_model(f"local-dir:{tmp_path}").eval()
    assert torch.equal(same(x), model(x)) and same.label_names == FASHION
    assert same.resreg_pretrained["source"] == f"local-dir:{tmp_path}"
    with pytest.raises(WeightsError, match="pretrained_skip_classifier"):
        resreg.create_model(f"local-dir:{tmp_path}", num_classes=5)
    five = resreg.create_model(f"local-dir:{tmp_path}", num_classes=5, pretrained_skip_classifier=True)
    assert five.fc.out_features == 5 and five.label_names is None  # ten names do not fit five classes
    assert torch.equal(five.conv1.weight, model.conv1.weight)
    features = resreg.create_model(f"local-dir:{tmp_path}", features_only=True).eval()
    assert [f.shape[1] for f in features(x)] == [16, 16, 32, 64]
    untrained = resreg.create_model(f"local-dir:{tmp_path}", pretrained=False)
    assert not torch.equal(untrained.conv1.weight, model.conv1.weight) and untrained.label_names == FASHION


def test_create_model_from_a_local_dir_treats_its_spec_as_untrusted(tmp_path):
    model = resreg.create_model("resnet20", depths=[1, 1, 1])
    path = save_model(model, tmp_path / "model.safetensors")
    tensors, header = read_safetensors(path)
    header["resreg_spec"] = json.dumps({**model.resreg_spec, "pretrained": "/etc/passwd.safetensors"})
    safetensors.torch.save_file(tensors, str(path), metadata=header)
    for overrides in ({}, {"num_classes": 3, "pretrained_skip_classifier": True}):
        with pytest.raises(WeightsError, match=r"spec\.pretrained: refused"):
            resreg.create_model(f"local-dir:{tmp_path}", **overrides)


def test_config_json_names_the_preset_a_spec_is():
    registry = get_registry()

    def spec(*args, **kwargs):
        return resreg.create_model(*args, **kwargs).resreg_spec

    assert architecture_of(spec("resnet20", in_chans=1), registry) == "resnet20"  # channels and classes aside
    assert architecture_of(spec("resnet50", num_classes=3), registry) == "resnet50"  # timm knows it by that name
    assert architecture_of(spec("resnet20", depths=[1, 1, 1]), registry) == "resnet"  # no preset: the builder
