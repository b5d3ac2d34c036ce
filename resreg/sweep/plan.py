"""The plan of a sweep: every run (config x grid point x seed) validated up front, and each one's state on disk."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from resreg.config import RunConfig, load_config, validate_config
from resreg.engine import rundir
from resreg.errors import ConfigError
from resreg.layout import LAST_CHECKPOINT, MODEL_FILE, RUN_CONFIG_FILE, checkpoint_file
from resreg.registry import Registry
from resreg.sweep.grammar import SEED_KEY, grid_points
from resreg.sweep.labels import axis_labels


@dataclass(frozen=True)
class PlannedRun:
    """One training run of the sweep: `resreg train SOURCE *OVERRIDES --run-dir DIR`."""

    group: str  # config name + grid point as written: one row of the table, and the name of its run dirs
    label: str  # the group's readable name in the table and the figures (labels.py)
    source: str  # the config as the user gave it
    overrides: tuple[str, ...]  # plain, grid point, then engine.seed
    seed: int
    dir: Path
    config: RunConfig = field(compare=False, repr=False)  # validated: what DIR/config.yaml holds

    @property
    def log(self) -> Path:
        return self.dir.with_name(self.dir.name + ".log")

    @property
    def record(self) -> Path:
        return self.dir.with_name(self.dir.name + ".sweep.json")

    def command(self, state: str) -> list[str]:
        train = [sys.executable, "-m", "resreg", "train"]
        if state == "resume":
            return [*train, "--resume", str(self.dir)]
        # A new run's directory is empty, or holds this config's run stopped before its first
        # checkpoint (state_of checked both), which starts again: --overwrite, or train refuses it.
        return [*train, self.source, *self.overrides, "--run-dir", str(self.dir), "--overwrite"]


def group_name(source: str, overrides: list[str], point: list[str]) -> str:
    """The config's run name (its `name:`, else its file name) and the grid point, safe as a file name."""
    return _group(rundir.run_name(load_config(source, overrides), source), point)


# A run's longest file name, `<group>-seed<S>.sweep.json`, must fit a file system's 255 bytes (NAME_MAX):
# a group of up to 238 bytes keeps its name (it fits for seeds 0-9), and a longer one, which no run
# directory could ever have had, is cut and told apart from others cut alike by a hash of the whole.
_LONGEST_GROUP, _CUT_GROUP = 238, 200  # bytes


def _group(config_name: str, point: list[str]) -> str:
    """`config_name,key=value,...` where what a shell would need to quote becomes '_'."""
    name = re.sub(r"[^\w.,=+-]", "_", ",".join([config_name, *point]))
    whole = name.encode()
    if len(whole) <= _LONGEST_GROUP:
        return name
    return f"{whole[:_CUT_GROUP].decode(errors='ignore')}-{hashlib.sha256(whole).hexdigest()[:16]}"


def plan(configs: Sequence[str], plain: list[str], axes: list[tuple[str, list[str]]], seeds: int,
         runs_root: Path, registry: Registry) -> list[PlannedRun]:  # fmt: skip
    """Load and validate every run's config up front (a typo fails before anything trains).

    Runs are ordered seed-major: every group's seed 0 first, so a sweep cut short still covers every group.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: give a positive number of seeds")
    runs: list[PlannedRun] = []
    groups: dict[str, str] = {}
    # the label of each `key=value` of the grid; the config's name only where it tells groups apart
    point_labels = {f"{key}={value}": label for key, values in axes
                    for value, label in zip(values, axis_labels(key, values), strict=True)}  # fmt: skip
    for source in configs:
        for point in grid_points(axes):
            config_name = rundir.run_name(load_config(source, [*plain, *point]), source)
            group = _group(config_name, point)
            if group in groups:
                raise ConfigError(f"{source}: its runs would be named {group!r}, like those of {groups[group]}; "
                                  "give the configs different `name:`s")  # fmt: skip
            groups[group] = source
            named = [config_name] if len(configs) > 1 or not point else []
            label = ",".join([*named, *(point_labels[override] for override in point)])
            for seed in range(seeds):
                overrides = (*plain, *point, f"{SEED_KEY}={seed}")
                config = validate_config(load_config(source, overrides), source, registry)
                run_dir = runs_root / f"{group}-seed{seed}"
                runs.append(PlannedRun(group, label, source, overrides, seed, run_dir, config))
    return sorted(runs, key=lambda r: r.seed)  # stable: groups keep their order within a seed


def _plain_data(config: dict[str, Any]) -> Any:
    return yaml.safe_load(yaml.safe_dump(config, sort_keys=False))  # tuples -> lists, as config.yaml reads back


def _difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first key path where two plain configs differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if a == b else f"{path or 'the config'}: {a!r} there, {b!r} planned"


def state_of(run: PlannedRun) -> str:
    """finished (final model written), resume (a checkpoint), or new; a different run there is a ConfigError."""

    saved = run.dir / RUN_CONFIG_FILE
    if saved.is_file():
        difference = _difference(yaml.safe_load(saved.read_text(encoding="utf-8")), _plain_data(run.config.to_dict()))
        if difference:
            raise ConfigError(f"{run.dir} holds a run of another config ({difference}); "
                              "give the sweep another --out or --runs, or remove that directory")  # fmt: skip
        if (run.dir / MODEL_FILE).is_file():
            return "finished"
        if checkpoint_file(run.dir, LAST_CHECKPOINT).is_file():
            return "resume"
    return "new"
