"""The typed run config: parsed once by validate_config, read by the engine, written to config.yaml and read
back without loss; run directories written before it still resume and evaluate."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from resreg.config import RunConfig, list_shipped_configs, load_config, validate_config
from resreg.plugins import get_registry

#: a run directory `resreg train` wrote before RunConfig existed: 2 synthetic steps, 3 classes where its
#: model preset says 10 (config.yaml, metrics, checkpoints/last.pt and model.safetensors; 90 KB)
OLD_RUN = Path(__file__).parent / "data" / "run_before_run_config"

TINY = {
    "name": "tiny",
    "model": {"preset": "resnet20", "depths": [1, 1, 1], "widths": [4, 4, 4], "shortcut": "B"},
    "data": {"type": "synthetic", "num_images": 32, "image_size": 8, "num_classes": 3},
    "train": {
        "preset": "fast",
        "unit": "step",
        "length": 2,
        "batch_size": 8,
        "eval_every": 1,
        "schedule": {"warmup": 0},
    },
    "engine": {"log_every": 1, "checkpoint_every": 1, "progress": "none", "precision": "fp32"},
}


def tiny(**sections: dict[str, Any]) -> RunConfig:
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()}
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    return validate_config(config, "tiny", get_registry())


# --- one parse, no loss -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_shipped_configs())
def test_every_shipped_config_survives_config_yaml_unchanged(name):
    registry = get_registry()
    config = validate_config(load_config(name), name, registry)
    written = yaml.safe_load(yaml.safe_dump(config.to_dict(), sort_keys=False))  # as rundir.write_config does
    assert validate_config(written, "config.yaml", registry) == config
    assert written == config.to_dict()


def test_the_sections_are_their_types_and_the_config_cannot_change():
    from resreg.config.options import EngineOptions, EvalOptions
    from resreg.recipe import Recipe

    config = tiny(train={"lr": 0.05, "momentum": 0.8}, eval={"ten_crop": True})
    assert isinstance(config.recipe, Recipe) and config.recipe.lr == 0.05 and config.recipe_preset == "fast"
    assert isinstance(config.engine, EngineOptions) and isinstance(config.eval, EvalOptions) and config.eval.ten_crop
    assert config.model["type"] == "resnet" and config.data["seed"] == 0  # preset expanded, defaults filled in
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.recipe = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.engine.seed = 1  # type: ignore[misc]
    assert config.to_dict()["train"]["preset"] == "fast"  # config.yaml still says which preset it started from


# --- the engine never parses a section again ----------------------------------------------------------
#: what validate_config parses the sections with: the whole config, the recipe, the model spec, the file
PARSERS = (
    ("resreg.config.validate", "validate_config"),
    ("resreg.recipe", "build_recipe"),
    ("resreg.recipe", "expand_recipe"),
    ("resreg.config.model_spec", "resolve_model_spec"),
    ("resreg.config.model_spec", "expand_presets"),
    ("resreg.config.loader", "load_config"),
)
#: where a section must not be parsed again once there is a RunConfig
ABOVE_THE_CONFIG = ("resreg.engine", "resreg.cli", "resreg.sweep")


@pytest.fixture
def parser_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every call of a section parser as (parser, calling module), wherever a module imported it from."""
    calls: list[tuple[str, str]] = []

    def counting(name: str, parser: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, sys._getframe(1).f_globals["__name__"]))
            return parser(*args, **kwargs)

        return counted

    for module_name, name in PARSERS:
        parser = getattr(sys.modules[module_name], name)
        for module in [m for m in list(sys.modules.values()) if getattr(m, "__name__", "").startswith("resreg")]:
            for attribute, value in list(vars(module).items()):
                if value is parser:
                    monkeypatch.setattr(module, attribute, counting(name, parser))
    return calls


def test_train_evaluate_sweep_costs_and_nproc_checks_never_parse_a_section_again(tmp_path, parser_calls):
    from resreg.engine.assemble import build_data
    from resreg.engine.evaluate import evaluate_config
    from resreg.engine.launch import check_before_spawning
    from resreg.engine.run import train
    from resreg.sweep import Costs

    config = tiny()
    parser_calls.clear()  # validating it parsed each section once; what follows reads the RunConfig
    registry = get_registry()
    assert train(config, source="tiny", registry=get_registry(), run_dir=tmp_path / "run") == "finished"
    assert set(evaluate_config(config, registry)) >= {"test_error", "test_loss"}
    check_before_spawning(config, 2, registry)
    assert Costs(get_registry())(config).images == 2 * 8
    assert build_data(config, registry).num_classes == 3
    # Building the model checks its spec where the public create_model does (resreg.models); nothing above
    # the config layer parses a section, and the recipe, the file and the whole config are not parsed at all.
    assert [call for call in parser_calls if call[1].startswith(ABOVE_THE_CONFIG)] == []
    assert {name for name, _ in parser_calls} <= {"resolve_model_spec", "expand_presets"}


# --- run directories written before the RunConfig --------------------------------------------------------
@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OLD_RUN, tmp_path / "run"))


def test_a_run_dir_written_before_the_run_config_evaluates_from_each_of_its_weights(cli, old_run):
    figures = {}
    for checkpoint in ("final", "last"):
        result = cli("eval", str(old_run), "--checkpoint", checkpoint, "--json")
        assert result.status == 0, result.err
        figures[checkpoint] = json.loads(result.out)
    # its last checkpoint is its final model (2 steps, no EMA): built as training built it, 3 classes, not 10
    assert figures["last"] == pytest.approx(figures["final"])
    assert set(figures["final"]) == {f"{s}_{m}" for s in ("val", "test") for m in ("loss", "error", "top5_error")}


def test_weights_on_a_data_set_with_other_classes_is_a_one_line_error(cli, old_run):
    result = cli("eval", str(old_run / "model.safetensors"), "data=synthetic")
    assert result.status == 2 and result.err.count("\n") == 1, result.err
    assert "the model has 3 classes and data set 'synthetic' has 10" in result.err


def test_a_run_dir_written_before_the_run_config_resumes(cli, old_run):
    result = cli("train", "--resume", str(old_run), "train.length=3")
    assert result.status == 0, result.err
    rows = [json.loads(line) for line in (old_run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "train_loss" in row] == [1, 2, 3]  # its rows kept, step 3 added
    saved = yaml.safe_load((old_run / "config.yaml").read_text())
    assert saved["train"]["length"] == 3 and saved["train"]["preset"] == "fast"


# --- one way to copy what a model records -----------------------------------------------------------------
def test_snapshots_and_final_model_of_an_ema_run_carry_the_trained_models_record(tmp_path):
    """The EMA copy is what is saved; it must carry the spec, the input record and the pixel mean image."""
    from resreg.engine.run import train
    from resreg.layout import MODEL_FILE
    from resreg.models import load_model

    config = tiny(
        train={"length": 4, "snapshots": 2, "augment": {"normalize": "pixel"}},
        engine={"ema": 0.5, "checkpoint_every": 0},
    )
    assert train(config, source="tiny", registry=get_registry(), run_dir=tmp_path / "run") == "finished"
    saved = [*sorted((tmp_path / "run" / "snapshots").glob("*.safetensors")), tmp_path / "run" / MODEL_FILE]
    assert len(saved) == 3
    for path in saved:
        model = load_model(path)
        assert model.resreg_mean_image is not None and model.resreg_mean_image.shape == (3, 8, 8), path
        assert tuple(model.pretrained_cfg["input_size"]) == (3, 8, 8) and model.resreg_spec["type"] == "resnet", path
