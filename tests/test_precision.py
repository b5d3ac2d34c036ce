"""engine.precision / channels_last / threads = auto: what each resolves to on which hardware, and why."""

from __future__ import annotations

import os

import pytest
import torch

from resreg.config.options import EngineOptions
from resreg.engine.precision import (
    Choice,
    Precision,
    resolve_channels_last,
    resolve_compile,
    resolve_engine_options,
    resolve_precision,
    resolve_threads,
)
from resreg.errors import ConfigError

CPU = torch.device("cpu")


@pytest.fixture
def cpu_units(monkeypatch):
    """Pretend the CPU has (or lacks) AMX tiles and AVX512-BF16 and report torch's kernel level."""

    def set_units(*, amx: bool, avx512_bf16: bool, capability: str = "AVX2") -> None:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)

    return set_units


def test_auto_is_fp32_on_a_cpu_without_bf16_units(cpu_units):
    cpu_units(amx=False, avx512_bf16=False)
    choice = resolve_precision("auto", CPU)
    assert choice.value == "fp32"
    assert "no bf16 units" in choice.reason
    assert Precision("auto", CPU).dtype is None  # no autocast at all


@pytest.mark.parametrize(("amx", "avx512_bf16", "unit"), [(True, False, "AMX"), (False, True, "AVX512-BF16")])
def test_auto_is_bf16_where_the_cpu_computes_it_natively(cpu_units, amx, avx512_bf16, unit):
    cpu_units(amx=amx, avx512_bf16=avx512_bf16, capability="AVX512")
    precision = Precision("auto", CPU)
    assert (precision.name, precision.dtype) == ("bf16", torch.bfloat16)
    assert unit in precision.reason


def test_an_explicit_precision_is_obeyed_and_fp16_on_the_cpu_refused(cpu_units):
    cpu_units(amx=False, avx512_bf16=False)
    assert Precision("bf16", CPU).name == "bf16"  # the user asked: slow but theirs to choose
    assert resolve_precision("fp32", CPU).reason == "set in the config"
    with pytest.raises(ConfigError, match="fp16 autocast is for GPUs"):
        Precision("fp16", CPU)


def test_channels_last_auto_follows_the_cpu_kernels(cpu_units):
    cpu_units(amx=False, avx512_bf16=False, capability="DEFAULT")  # no vector kernels (e.g. ARM builds)
    assert resolve_channels_last("auto", CPU).value is False
    cpu_units(amx=False, avx512_bf16=False, capability="AVX2")
    assert resolve_channels_last("auto", CPU).value is True
    cpu_units(amx=False, avx512_bf16=True, capability="AVX512")
    assert resolve_channels_last("auto", CPU).value is True
    assert resolve_channels_last(False, CPU).value is False  # explicit wins


def test_threads_default_to_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert resolve_threads(0).value == 4
    assert resolve_threads(0, world_size_on_node=2).value == 2  # two processes share the node's cores
    assert resolve_threads(0, world_size_on_node=8).value == 1
    assert resolve_threads(3).value == 3


def test_engine_options_resolve_every_auto(cpu_units, monkeypatch):
    cpu_units(amx=False, avx512_bf16=False, capability="AVX2")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    options, choices = resolve_engine_options(EngineOptions(), CPU)
    assert (options.precision, options.channels_last, options.threads) == ("fp32", True, 2)
    assert set(choices) == {"precision", "channels_last", "threads"}
    assert EngineOptions().precision == "auto" and EngineOptions().channels_last == "auto"


def test_omp_num_threads_caps_the_automatic_thread_count(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(0).value == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "64")  # never more than the cores this process may use
    assert resolve_threads(0).value == 4
    assert resolve_threads(3).value == 3  # the config wins


CUDA = torch.device("cuda")  # resolve_compile only reads its type: no GPU needed to test the decision


@pytest.mark.parametrize(
    ("device", "steps", "size", "world", "expected", "reason"),
    [
        (CPU, 1_000_000, (224, 224), 1, False, "eager on cpu"),
        (CUDA, 4_999, (224, 224), 1, False, "4,999 steps are too few"),
        (CUDA, 5_000, (224, 224), 1, "default", "5,000 steps repay a cold compile"),
        (CUDA, 14_070, (28, 28), 1, "reduce-overhead", "28 px images are launch-bound"),
        (CUDA, 14_070, (28, 28), 8, "default", "repay a cold compile"),  # no CUDA graphs around DDP
        (CUDA, 300, (28, 28), 1, False, "too few"),  # the quickstart: a compile would double its time
    ],
)
def test_compile_auto_compiles_on_cuda_runs_long_enough_to_repay_it(device, steps, size, world, expected, reason):
    choice = resolve_compile("auto", device, steps, size, world)
    assert choice.value == expected and reason in choice.reason and choice.reason.startswith("auto: ")


@pytest.mark.parametrize(("value", "mode"), [(True, "default"), (False, False), ("max-autotune", "max-autotune")])
def test_an_explicit_compile_setting_is_obeyed_even_on_the_cpu(value, mode):
    assert resolve_compile(value, CPU, 10, (8, 8)) == Choice(mode, "set in the config")
    assert EngineOptions().compile == "auto"
