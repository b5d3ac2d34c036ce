"""Counts with units (`eval_every: 2 epochs`), the unit trap (`train.unit=step` on a preset that counts
epochs), and snapshot schedules: the warm-up belongs to the first cycle, and config.yaml records what ran."""

from __future__ import annotations

import pytest
import yaml

from resreg.config import load_config
from resreg.errors import ConfigError
from resreg.plugins import get_registry
from resreg.recipe import build_recipe, recipe_spec


def recipe(spec):
    return build_recipe(spec, get_registry())


def test_a_count_may_carry_its_unit_and_a_bare_one_counts_the_recipes():
    r = recipe({"preset": "cifar_resnet", "eval_every": "2 epochs", "schedule": {"warmup": "500 steps"}})
    assert r.unit == "step" and r.eval_every_steps(391) == 782
    schedule = r.build_schedule(391)
    assert schedule.warmup_steps == 500 and schedule.milestones == [32000, 48000]  # bare: the recipe's steps
    assert recipe({"preset": "fast", "length": "300 steps", "eval_every": "0.5 epoch"}).total_steps(469) == 300
    assert recipe({"preset": "fast", "eval_every": "0.5 epoch"}).eval_every_steps(469) == 234


@pytest.mark.parametrize("count", ["2 weeks", "epochs", "-1 steps", "two"])
def test_a_malformed_count_is_one_line_naming_its_key(count):
    with pytest.raises(
        ConfigError, match=rf"train.eval_every='{count}': a count is a number, or a number and its unit"
    ):
        recipe({"preset": "fast", "eval_every": count})


def test_the_unit_trap_is_refused_in_one_line_that_lists_the_bare_counts_and_their_restatement(cli):
    result = cli("train", "quickstart", "train.unit=step")
    assert result.status == 2 and "Traceback" not in result.err
    line = result.err.strip()
    assert "\n" not in line
    assert "train.unit=step, but preset 'fast' counts epochs" in line
    assert "eval_every: 1" in line and "train.eval_every='1 epoch'" in line
    assert "length" not in line  # the quickstart's own length: 2 is the user's, in the unit they now set


def test_restated_counts_keep_their_meaning_under_another_unit():
    config = load_config("quickstart", ["train.unit=step", "train.eval_every=1 epochs", "train.length=20"])
    r = recipe(config["train"])
    assert (r.unit, r.total_steps(469), r.eval_every_steps(469)) == ("step", 20, 469)
    assert recipe(recipe_spec(config["train"], r)) == r  # the written-out section (config.yaml) builds the same


def test_a_config_restating_the_unit_with_its_own_counts_is_accepted():
    r = recipe(
        {"preset": "cifar_resnet", "unit": "epoch", "length": 10, "eval_every": 0.5, "schedule": {"milestones": []}}
    )
    assert (r.total_steps(100), r.eval_every_steps(100)) == (1000, 50)


def test_snapshot_warmup_ramps_the_first_cycle_only_and_its_cosine_starts_at_the_peak():
    r = recipe({"preset": "fast", "length": 30, "unit": "step", "eval_every": 30, "snapshots": 3,
                "schedule": {"warmup": 2}})  # fmt: skip
    s = r.build_schedule(100)
    assert (s.decay, s.cycles, s.warmup_steps, s.cycle_ends()) == ("cosine", 3, 2, [10, 20, 30])
    assert s.lr_at(0) == pytest.approx(0.1) and s.lr_at(2) == pytest.approx(0.2)  # ramp, then the peak
    assert s.lr_at(6) == pytest.approx(0.1)  # half way through 2..10: the first cycle's cosine after its warm-up
    assert s.lr_at(10) == s.lr_at(20) == pytest.approx(0.2)  # the later cycles restart with no warm-up
    assert s.lr_at(15) == pytest.approx(0.1)


def test_a_warmup_over_a_fifth_of_the_first_snapshot_cycle_is_refused_in_one_line():
    r = recipe({"preset": "fast", "length": 2, "snapshots": 3, "schedule": {"warmup": 0.3}})
    with pytest.raises(ConfigError) as refused:
        r.build_schedule(469)  # the quickstart: 140 warm-up steps of a 313-step first cycle
    assert str(refused.value) == (
        "train.schedule.warmup=0.3 is 141 steps, more than a fifth of the first of 3 snapshot cycles (313 steps): "
        "its snapshot would be barely trained; set train.schedule.warmup='62 steps' or less"
    )
    short = recipe({"preset": "fast", "length": 3, "unit": "step", "eval_every": 3, "snapshots": 3,
                    "schedule": {"warmup": 1}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"\(1 steps\): its snapshot would be barely trained; set [^ ]*warmup=0$"):
        short.build_schedule(100)  # cycles of one step: no warm-up fits, and '0 steps or less' would say so oddly


def test_config_yaml_of_a_snapshot_run_records_cosine_cycles_and_rebuilds_the_same_schedule(tmp_path, cli):
    run = tmp_path / "run"
    overrides = ["data={type: synthetic, num_images: 64, in_chans: 1, num_classes: 10}", "train.length=6 steps",
                 "train.batch_size=16", "train.snapshots=3", "train.schedule.warmup=0", "engine.progress=none",
                 "engine.precision=fp32", "engine.channels_last=false", "eval.batch_size=64"]  # fmt: skip
    result = cli("train", "quickstart", *overrides, "--run-dir", str(run))
    assert result.status == 0, result.err[-2000:]
    written = yaml.safe_load((run / "config.yaml").read_text())["train"]
    assert written["schedule"]["decay"] == "cosine" and written["schedule"]["cycles"] == 3  # the preset said linear
    ran = recipe(load_config("quickstart", overrides)["train"])
    assert recipe(written).build_schedule(4) == ran.build_schedule(4)
    assert sorted(p.name for p in (run / "snapshots").glob("*.safetensors")) == [
        "snapshot1.safetensors",
        "snapshot2.safetensors",
        "snapshot3.safetensors",
    ]


def test_cycles_without_snapshots_are_refused():
    with pytest.raises(
        ConfigError, match=r"train.schedule.cycles=3 goes with train.snapshots=0: set train.snapshots=3"
    ):
        recipe({"preset": "fast", "schedule": {"cycles": 3}})
