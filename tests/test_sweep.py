"""`resreg sweep`: the grid syntax, and real sweeps in a subprocess: the table, skipping and resuming."""

from __future__ import annotations

import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from resreg.cli.main import main
from resreg.errors import ConfigError
from resreg.sweep import grid_points, parse_overrides, split_values
from resreg.sweep import plan as plan_runs
from resreg.sweep.labels import axis_labels

TINY = """\
name: {name}
model: {{preset: {preset}, depths: [1, 1, 1]}}
data: {{type: synthetic, num_images: {images}, image_size: 16, in_chans: 1}}
train: {{preset: fast, length: {epochs}, batch_size: 16}}
engine: {{log_every: 4, checkpoint_every: 4, threads: 1, deterministic: true}}
eval: {{splits: [test], batch_size: 64}}
"""


def write_config(path: Path, name: str, preset: str, images: int = 64, epochs: int = 2) -> Path:
    path.write_text(TINY.format(name=name, preset=preset, images=images, epochs=epochs))
    return path


def sweep(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "resreg", "sweep", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)  # fmt: skip


# --- the grid syntax (no training) ----------------------------------------------------------------
def test_commas_split_values_only_outside_brackets_and_quotes():
    assert split_values("train.lr=0.1,0.05") == ("train.lr", ["0.1", "0.05"])
    assert split_values("model.depths=[1,1,1],[2,2,2]") == ("model.depths", ["[1,1,1]", "[2,2,2]"])
    assert split_values("data={type: synthetic, num_images: 8}") == ("data", ["{type: synthetic, num_images: 8}"])
    assert split_values("name='a,b',c") == ("name", ["'a,b'", "c"])
    plain, axes = parse_overrides(["train.length=3", "model.shortcut=A,B,C", "eval.splits=[test]"])
    assert plain == ["train.length=3", "eval.splits=[test]"]
    assert axes == [("model.shortcut", ["A", "B", "C"])]
    points = grid_points([("a", ["1", "2"]), ("b", ["x", "y", "z"])])
    assert len(points) == 6 and points[0] == ["a=1", "b=x"] and points[-1] == ["a=2", "b=z"]
    assert grid_points([]) == [[]]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr", "is not KEY=VALUE"),
        ("train..lr=1", "is not KEY=VALUE"),
        ("train.lr=0.1,,0.2", "empty value"),
        ("train.lr=0.1,", "empty value"),
        ("model.depths=[1,1", "unclosed bracket"),
        ("model.depths=1,1]", "closes nothing"),
        ("name='a,b", "unclosed quote"),
        ("engine.seed=0,1", "use --seeds"),
        ("train.lr=[1,2", "unclosed bracket"),
        ("train.lr=0.1,0.10", "0.1 and 0.10 are the same value"),
        ("model={preset: a, depths: [1]},{depths: [1], preset: a}", "are the same value; give each once"),
    ],
)
def test_bad_grid_syntax_is_one_config_error(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_overrides([override])
    assert "\n" not in str(err.value)


def test_a_key_given_twice_is_an_error():
    with pytest.raises(ConfigError, match=r"train\.lr is given twice"):
        parse_overrides(["train.lr=0.1,0.2", "train.lr=0.3"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "no_such_config", "--out", "{tmp}"], "no config file 'no_such_config'"),
        (["sweep", "quickstart", "train.lr=0.1,", "--out", "{tmp}"], "empty value"),
        (["sweep", "train.lr=0.1,0.2"], "give at least one config"),
        (["sweep", "quickstart", "--seeds", "0", "--out", "{tmp}"], "--seeds 0"),
    ],
)
def test_the_cli_turns_bad_input_into_one_line_and_status_2(argv, message, tmp_path, capsys):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("resreg sweep: error:")
    assert not (tmp_path / "runs").exists()


# --- group names: short labels in the table and the figures, run directories as before ------------
def test_a_scalar_axis_is_labelled_as_written_and_a_mapping_axis_by_the_keys_its_values_differ_in():
    assert axis_labels("train.lr", ["0.1", "5e-2"]) == ["train.lr=0.1", "train.lr=5e-2"]
    assert axis_labels("model.depths", ["[1,1,1]", "[2,2,2]"]) == ["model.depths=[1,1,1]", "model.depths=[2,2,2]"]
    presets = ["{preset: resnet20, depths: [1, 1, 1]}", "{preset: resnet56, depths: [1, 1, 1]}"]
    assert axis_labels("model", presets) == ["model.preset=resnet20", "model.preset=resnet56"]
    tricks = ["{label_smoothing: 0}", "{label_smoothing: 0.1}", "{label_smoothing: 0, augment: {mixup_alpha: 0.2}}",
              "{label_smoothing: 0, no_weight_decay_on: [bias, norm]}"]  # fmt: skip
    assert axis_labels("train", tricks) == [
        "train.label_smoothing=0", "train.label_smoothing=0.1",
        "train.label_smoothing=0,train.augment.mixup_alpha=0.2",
        "train.label_smoothing=0,train.no_weight_decay_on=[bias, norm]",
    ]  # fmt: skip
    # a baseline that holds none of the keys the others differ in is named by what it holds
    teacher = ["{label_smoothing: 0}", "{label_smoothing: 0, teacher: {source: runs/big, weight: 0.5}}"]
    assert axis_labels("train", teacher) == ["train.label_smoothing=0",
                                             "train.teacher.source=runs/big,train.teacher.weight=0.5"]  # fmt: skip
    # values that YAML reads as different types stay apart; a mapping beside a scalar is shown whole
    assert axis_labels("x", ["{a: 1}", "{a: true}", "{a: '1'}"]) == ["x.a=1", "x.a=true", "x.a='1'"]
    assert axis_labels("train.teacher", ["null", "{source: runs/big}"]) == [
        "train.teacher=null", "train.teacher={source: runs/big}"
    ]  # fmt: skip


_leaf = st.one_of(st.integers(-2, 2), st.booleans(), st.none(), st.sampled_from(["a", "resnet20", "1", 0.5, 1.0]))
_keys = st.sampled_from(["a", "b", "c"])
_mapping = st.dictionaries(_keys, st.recursive(_leaf, lambda inner: st.dictionaries(_keys, inner, max_size=3)),
                           max_size=3)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(values=st.lists(_mapping, min_size=2, max_size=5, unique_by=lambda v: yaml.safe_dump(v, sort_keys=True)))
def test_distinct_values_of_a_mapping_axis_get_distinct_labels(values):
    texts = [yaml.safe_dump(v, default_flow_style=True, width=10_000).strip() for v in values]
    assume(len({yaml.safe_dump(yaml.safe_load(t), sort_keys=True) for t in texts}) == len(texts))
    labels = axis_labels("k", texts)
    assert len(set(labels)) == len(labels), dict(zip(texts, labels, strict=True))


def test_groups_are_labelled_by_what_tells_them_apart_and_their_run_dirs_keep_their_names(tmp_path):
    """Run directories are named from the config and the grid point as written, as before labels existed:
    a sweep resumed, or extended by another value, or sharing --runs with another, finds its runs."""
    from resreg.plugins import get_registry

    configs = [str(write_config(tmp_path / f"{n}.yaml", n, "resnet20")) for n in ("tiny-a", "tiny-b")]
    _, axes = parse_overrides(["model={preset: resnet20},{preset: plain20}", "train.lr=0.1,0.05"])
    runs = plan_runs(configs, [], axes, 1, tmp_path / "runs", get_registry())
    assert [r.label for r in runs] == [
        f"{n},model.preset={p},train.lr={lr}" for n in ("tiny-a", "tiny-b") for p in ("resnet20", "plain20")
        for lr in ("0.1", "0.05")
    ]  # fmt: skip
    assert runs[0].dir.name == "tiny-a,model=_preset__resnet20_,train.lr=0.1-seed0"
    assert runs[-1].dir.name == "tiny-b,model=_preset__plain20_,train.lr=0.05-seed0"
    alone = plan_runs(configs[:1], [], axes[:1], 1, tmp_path / "runs", get_registry())  # one config: no need to name it
    assert [r.label for r in alone] == ["model.preset=resnet20", "model.preset=plain20"]
    assert [r.label for r in plan_runs(configs[:1], [], [], 1, tmp_path / "runs", get_registry())] == ["tiny-a"]


def test_a_group_too_long_for_a_file_name_gets_a_cut_name_told_apart_by_a_hash(tmp_path):
    """Run directories named after a long grid value (a teacher's path) once failed with ENAMETOOLONG."""
    from resreg.plugins import get_registry
    from resreg.sweep import state_of

    config = str(write_config(tmp_path / "a.yaml", "tiny", "resnet20"))
    source = "/data/" + "teachers/" * 30
    _, axes = parse_overrides([f"train.teacher={{source: {source}, weight: 0.5}},{{source: {source}, weight: 0.7}}"])
    runs = plan_runs([config], [], axes, 1, tmp_path / "runs", get_registry())
    names = [r.dir.name for r in runs]
    assert [r.label for r in runs] == ["train.teacher.weight=0.5", "train.teacher.weight=0.7"]
    assert len(set(names)) == 2 and all(len(r.record.name.encode()) <= 255 for r in runs)
    assert all(name.startswith("tiny,train.teacher=_source___data_teachers_teachers_") for name in names)
    assert [state_of(r) for r in runs] == ["new", "new"]  # its files can be looked for: no ENAMETOOLONG
    assert [r.dir.name for r in plan_runs([config], [], axes, 1, tmp_path / "runs", get_registry())] == names


def test_the_table_and_the_legend_name_groups_by_their_labels(tmp_path, cli, monkeypatch):
    """--report-only over finished runs (their metrics written here): results.csv, results.md and the
    legend of curves.png name each group by its label; run_dirs says where its runs are."""
    import resreg.plot

    pytest.importorskip("matplotlib")
    config = write_config(tmp_path / "a.yaml", "tiny", "resnet20")
    axis = "model={preset: resnet20, depths: [1, 1, 1]},{preset: plain20, depths: [1, 1, 1]}"
    dirs = {"model.preset=resnet20": "tiny,model=_preset__resnet20,_depths___1,_1,_1__",
            "model.preset=plain20": "tiny,model=_preset__plain20,_depths___1,_1,_1__"}  # fmt: skip
    for i, stem in enumerate(dirs.values()):
        run = tmp_path / "out" / "runs" / f"{stem}-seed0"
        run.mkdir(parents=True)
        rows = [{"step": 4, "train_error": 0.5 + i / 10}, {"step": 4, "test_error": 0.25 + i / 10}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        save_file({"w": torch.zeros(1)}, run / "model.safetensors")
    legends, draw = [], resreg.plot.draw

    def drawn(runs, **kwargs):  # the real figure, its legend's names noted
        legends.append([r.name for r in runs])
        return draw(runs, **kwargs)

    monkeypatch.setattr(resreg.plot, "draw", drawn)
    result = cli("sweep", str(config), axis, "--out", str(tmp_path / "out"), "--report-only")
    assert result.status == 0, result.err
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert [(r["group"], r["run_dirs"], r["test_error_pct_mean"]) for r in rows] == [
        ("model.preset=resnet20", f"{dirs['model.preset=resnet20']}-seed*", "25.0"),
        ("model.preset=plain20", f"{dirs['model.preset=plain20']}-seed*", "35.0"),
    ]  # fmt: skip
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| model.preset=resnet20 | 1/1 | 50.00 | 25.00 |" in markdown
    assert "| model.preset=plain20 | 1/1 | 60.00 | 35.00 |" in markdown
    assert legends[0] == ["model.preset=resnet20", "model.preset=plain20"]  # curves.png: one curve per group
    assert legends[1:] == [["seed 0"], ["seed 0"]]  # curves/<run dirs' name>.png: one per seed, titled by the label
    assert {p.name for p in (tmp_path / "out" / "curves").iterdir()} == {f"{stem}.png" for stem in dirs.values()}


# --- real sweeps ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    """Two configs (ResNet-8 and plain-8) x 2 seeds on synthetic data, two runs at a time."""
    root = tmp_path_factory.mktemp("sweep")
    configs = [
        write_config(root / "a.yaml", "tiny-res", "resnet20"),
        write_config(root / "b.yaml", "tiny-plain", "plain20"),
    ]
    result = sweep(*map(str, configs), "--seeds", "2", "--jobs", "2", "--out", "out", "eval.batch_size=32", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root, configs, result


def _final(run_dir: Path, key: str) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return 100 * [r[key] for r in rows if r.get(key) is not None][-1]


@pytest.mark.slow
def test_the_table_holds_each_group_with_the_mean_of_its_seeds(finished_sweep):
    from resreg.models import load_model

    root, _, result = finished_sweep
    out = root / "out"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["group"] for r in rows] == ["tiny-res", "tiny-plain"]
    assert set(rows[0]) >= {"train_error_pct_mean", "train_error_pct_std", "test_error_pct_min",
                            "test_error_pct_max", "params", "macs", "wall_s_mean"}  # fmt: skip
    for row in rows:
        runs = [out / "runs" / f"{row['group']}-seed{s}" for s in (0, 1)]
        assert row["seeds"] == row["finished"] == "2"
        for key in ("train_error", "test_error"):
            finals = [_final(r, key) for r in runs]
            assert float(row[f"{key}_pct_mean"]) == pytest.approx(statistics.fmean(finals), abs=1e-3)
            assert float(row[f"{key}_pct_std"]) == pytest.approx(statistics.stdev(finals), abs=1e-3)
            assert float(row[f"{key}_pct_min"]) == pytest.approx(min(finals), abs=1e-3)
        model = load_model(runs[0] / "model.safetensors")
        assert int(row["params"]) == sum(p.numel() for p in model.parameters())
        assert int(row["macs"]) > 0 and float(row["wall_s_mean"]) > 0
        saved = [yaml.safe_load((r / "config.yaml").read_text()) for r in runs]
        assert [c["engine"]["seed"] for c in saved] == [0, 1]  # engine.seed came from --seeds
        assert all(c["eval"]["batch_size"] == 32 for c in saved)  # the plain override reached every run
    markdown = (out / "results.md").read_text()
    assert markdown.count("| 2/2 |") == 2 and "tiny-res" in markdown and "tiny-plain" in markdown
    assert (out / "curves.png").stat().st_size > 0
    assert {p.name for p in (out / "curves").iterdir()} == {"tiny-res.png", "tiny-plain.png"}
    assert "4 to train" in result.stdout


@pytest.mark.slow
def test_a_rerun_skips_finished_runs_and_another_config_is_refused(finished_sweep, monkeypatch, capsys):
    root, configs, _ = finished_sweep
    runs = root / "out" / "runs"
    before = {p: p.stat().st_mtime_ns for p in runs.glob("*/model.safetensors")}
    assert len(before) == 4
    again = sweep(*map(str, configs), "--seeds", "2", "--out", "out", "eval.batch_size=32", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "4 already finished, 0 to train" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in runs.glob("*/model.safetensors")} == before
    assert all(json.loads(p.read_text())["attempts"] == 1 for p in runs.glob("*.sweep.json"))
    # the same run directories with another override: refused, nothing trained
    monkeypatch.chdir(root)
    assert main(["sweep", *map(str, configs), "--seeds", "2", "--out", "out", "eval.batch_size=16"]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another config (eval.batch_size: 32 there, 16 planned)" in err and err.count("\n") == 1


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_its_run_from_the_checkpoint(tmp_path):
    config = write_config(tmp_path / "long.yaml", "tiny-long", "resnet20", images=128, epochs=20)  # 160 steps
    args = [sys.executable, "-m", "resreg", "sweep", str(config), "--out", "out"]
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_dir = tmp_path / "out" / "runs" / "tiny-long-seed0"
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "last.pt").is_file():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # as `timeout` would: the sweep forwards it, the run checkpoints
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 143, output
    assert "interrupted" in output and not (run_dir / "model.safetensors").exists()
    rows_before = (run_dir / "metrics.jsonl").read_text().splitlines()
    stopped_at = json.loads(rows_before[-1])["step"]
    assert 0 < stopped_at < 160

    resumed = sweep(str(config), "--out", "out", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming tiny-long-seed0" in resumed.stdout
    rows_after = (run_dir / "metrics.jsonl").read_text().splitlines()
    # The rows up to the checkpoint are the first attempt's own (their measured images/s included):
    # a run started over would have rewritten them.
    assert rows_after[: len(rows_before)] == rows_before and json.loads(rows_after[-1])["step"] == 160
    assert json.loads((run_dir.parent / "tiny-long-seed0.sweep.json").read_text())["attempts"] == 2
    assert "--resume" in (run_dir.parent / "tiny-long-seed0.log").read_text()
    (row,) = csv.DictReader((tmp_path / "out" / "results.csv").open())
    assert row["finished"] == "1"


# --- SLURM arrays through submitit (its local executor stands in for the cluster) -----------------
def test_executor_args_take_hydra_submitit_launchers_names():
    from resreg.sweep.slurm import executor_parameters

    parameters = executor_parameters(["partition=gpu", "timeout_min=120", "gpus_per_node=1", "array_parallelism=4"])
    assert parameters == {"slurm_partition": "gpu", "timeout_min": 120, "gpus_per_node": 1,
                          "slurm_array_parallelism": 4}  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--executor-arg", "partition"], "--executor-arg 'partition' is not KEY=VALUE"),
        (["--executor", "submitit_local", "--executor-arg", "no_such_option=1"], "--executor-arg: "),
        (["--executor", "submitit_local", "--jobs", "2"], "--jobs 2 is for local sweeps"),
        (["--executor-arg", "partition=gpu"], "--executor-arg is for --executor slurm"),
    ],
)
def test_bad_executor_options_are_one_line_and_status_2(extra, message, tmp_path, capsys):
    pytest.importorskip("submitit")
    config = write_config(tmp_path / "a.yaml", "tiny-res", "resnet20")
    if extra[:1] == ["--executor-arg"] and "=" not in extra[1]:
        extra = ["--executor", "submitit_local", *extra]
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--dry-run", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "runs").exists()


def test_slurm_without_sbatch_says_where_to_run_it(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    config = write_config(tmp_path / "a.yaml", "tiny-res", "resnet20")
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "sbatch is not on PATH" in err and err.count("\n") == 1


@pytest.mark.slow
def test_a_submitit_array_trains_skips_and_tabulates_as_a_local_sweep(tmp_path):
    pytest.importorskip("submitit")
    config = write_config(tmp_path / "a.yaml", "tiny-res", "resnet20")
    args = (str(config), "--seeds", "2", "--out", "out", "--executor", "submitit_local",
            "--executor-arg", "timeout_min=10", "--executor-arg", "partition=ignored_here")  # fmt: skip
    result = sweep(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = tmp_path / "out" / "runs"
    assert "submitted tiny-res-seed0 as job" in result.stdout and "submitted tiny-res-seed1 as job" in result.stdout
    # the jobs run side by side: either may finish last
    assert all(f"tiny-res-seed{seed}: finished [" in result.stdout for seed in (0, 1)) and "[2/2]" in result.stdout
    assert {p.parent.name for p in runs.glob("*/model.safetensors")} == {"tiny-res-seed0", "tiny-res-seed1"}
    records = [json.loads(p.read_text()) for p in runs.glob("*.sweep.json")]  # written by the jobs themselves
    assert len(records) == 2 and all(r["attempts"] == 1 and r["wall_s"] > 0 for r in records)
    assert "resreg train" in (runs / "tiny-res-seed1.log").read_text()  # the training's output, as locally
    assert any((tmp_path / "out" / "submitit").iterdir())  # submitit's own job files
    assert "| tiny-res | 2/2 |" in (tmp_path / "out" / "results.md").read_text()
    again = sweep(*args, cwd=tmp_path)
    assert again.returncode == 0 and "2 already finished, 0 to train" in again.stdout, again.stdout + again.stderr


def test_jobs_packs_runs_round_robin_over_the_visible_gpus(monkeypatch):
    import torch

    from resreg.sweep import device_slots

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert device_slots(2) == ["3", "5", "3", "5"]  # two runs: one per GPU, not both on GPU 3
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert device_slots(1) == ["0", "1"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert device_slots(3) == [None, None, None]  # on the CPU: --jobs runs at a time, as before
