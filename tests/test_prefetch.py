"""The next batch made while this one trains (resreg/data/prefetch.py, `data.prefetch`): the same batches in
the same order, an error at the batch where it happened, no thread left behind, resumes as without it.

Run on the CPU with `prefetch=True`: the thread and its hand-over are those of a GPU run. What runs only on
CUDA (the side stream, its events, `record_stream`) is not exercised here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from resreg_plugins.datasets.imagefolder import imagefolder
from safetensors.torch import load_file
from test_folder_loader import same, write_mixed, write_with_bad

from resreg.data import AugmentOptions, make_loader
from resreg.data.augment import seeded_global_rngs
from resreg.data.folder_loader import LoaderSetting, resolve_prefetch
from resreg.data.prefetch import Prefetcher
from resreg.errors import ConfigError, DataError

CPU = torch.device("cpu")
AUGMENT = AugmentOptions(scale=(24, 40), hflip=True, color_jitter=0.3)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory):
    """20 images: baseline, progressive, grey, CMYK and EXIF-rotated JPEGs and PNGs, in two classes."""
    root = tmp_path_factory.mktemp("mixed")
    write_mixed(root, per_class=10)
    return imagefolder(root=str(root), val_dir="", image_size=24)


def loader(source, prefetch: bool, workers: int = 0, decode: str = "cpu", batch_size: int = 4, train: bool = True):
    return make_loader(
        source.train, batch_size=batch_size, train=train, augment=AUGMENT, device=CPU, seed=7, stats=source,
        num_workers=workers, decode=decode, prefetch=prefetch,
    )  # fmt: skip


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "resreg-prefetch"]


@pytest.mark.parametrize("decode", ["cpu", "cuda"])
@pytest.mark.parametrize("workers", [0, 2])
def test_prefetched_batches_are_those_made_without_it(mixed, workers: int, decode: str) -> None:
    ahead, inline = loader(mixed, True, workers, decode), loader(mixed, False, workers, decode)
    assert ahead.settings["prefetch"] == LoaderSetting(True, "set by data.prefetch")
    for epoch in range(2):
        batches = list(ahead.batches(epoch))
        assert len(batches) == len(ahead) == 5 and same(batches, list(inline.batches(epoch)))  # bit for bit
    assert not prefetch_threads()


def test_the_thread_makes_one_batch_ahead_and_no_more() -> None:
    asked = [threading.Event() for _ in range(4)]

    def counted():
        for i in range(4):
            asked[i].set()
            yield (torch.tensor([i]),)

    prefetcher = Prefetcher(counted(), CPU)
    assert next(prefetcher)[0].item() == 0
    assert asked[1].wait(timeout=60)  # batch 1 is made while the caller holds batch 0 ...
    assert not asked[2].wait(timeout=0.5)  # ... and batch 2 only once batch 1 is taken
    assert [batch[0].item() for batch in prefetcher] == [1, 2, 3]
    assert not prefetch_threads()


def test_an_error_reaches_the_caller_at_the_batch_where_it_happened(tmp_path) -> None:
    write_with_bad(tmp_path)  # in order, batches of 2: the truncated JPEG in batch 2, the bomb PNG in batch 4
    source = imagefolder(root=str(tmp_path), val_dir="", image_size=16, max_bad_fraction=0.1)  # 1 of 10 allowed
    taken, stopped = {}, {}
    for prefetch in (False, True):
        taken[prefetch] = []
        with pytest.warns(UserWarning, match="truncated.jpg"), pytest.raises(DataError) as stopped[prefetch]:
            for batch in loader(source, prefetch, batch_size=2, train=False).batches(0):
                taken[prefetch].append(batch)
    assert len(taken[True]) == 4 and same(taken[True], taken[False])  # every batch before the failed one
    assert str(stopped[True].value) == str(stopped[False].value)
    assert str(stopped[True].value).startswith("2 of the 10 images are unreadable, more than data.max_bad_fraction")
    assert not prefetch_threads()


def test_an_epoch_stopped_early_ends_its_thread_and_resumes_at_its_next_batch(mixed) -> None:
    ahead = loader(mixed, True, workers=2)
    expected = [list(loader(mixed, False).batches(epoch)) for epoch in range(2)]
    epoch = ahead.batches(0)
    taken = [next(epoch), next(epoch)]  # the loop stops here: total_steps reached, or a signal
    assert len(prefetch_threads()) == 1
    del epoch
    assert not prefetch_threads()  # ended with its iterator, not at interpreter exit
    assert same(list(ahead.batches(0, start=2)), expected[0][2:])  # a resume within the epoch
    assert same(taken, expected[0][:2]) and same(list(ahead.batches(1)), expected[1])


def test_a_later_batches_call_stops_the_earlier_ones_thread_and_takes_over(mixed) -> None:
    ahead = loader(mixed, True, workers=2)
    earlier = ahead.batches(0)
    next(earlier)
    later = ahead.batches(1)
    assert same([next(later)], list(loader(mixed, False).batches(1))[:1])
    assert len(prefetch_threads()) == 1  # the later epoch's: the earlier one's thread ended before it started
    with pytest.raises(RuntimeError, match="a later batches\\(\\) call took over the worker processes"):
        next(earlier)


def test_prefetch_is_on_when_training_on_cuda_and_says_why() -> None:
    assert resolve_prefetch("auto", CPU) == LoaderSetting(False, "auto: training on cpu")
    assert resolve_prefetch("auto", torch.device("cuda")) == LoaderSetting(True, "auto: training on cuda")
    assert resolve_prefetch(True, CPU) == LoaderSetting(True, "set by data.prefetch")
    assert resolve_prefetch(False, torch.device("cuda")) == LoaderSetting(False, "set by data.prefetch")
    for wrong in ("yes", 1, None):
        with pytest.raises(ConfigError, match=rf"^data.prefetch={wrong!r}: valid: auto, true, false$"):
            resolve_prefetch(wrong, CPU)


def test_a_wrong_prefetch_in_a_config_is_one_line(tmp_path, cli) -> None:
    write_mixed(tmp_path / "data", per_class=1)
    config = {"model": "resnet20", "data": {"type": "imagefolder", "root": str(tmp_path / "data"), "val_dir": ""}}
    (tmp_path / "run.yaml").write_text(json.dumps(config))
    result = cli("train", str(tmp_path / "run.yaml"), "data.prefetch=sometimes", "--run-dir", str(tmp_path / "run"))
    assert result.status == 2 and "Traceback" not in result.err
    (line,) = result.err.strip().splitlines()
    assert "data.prefetch: 'sometimes' is not a valid bool | 'auto'" in line, result.err


def test_closing_stops_the_thread_and_closes_the_batches() -> None:
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield (torch.zeros(1),)
        finally:
            closed.set()

    batches = endless()  # held here: only an explicit close closes it, not the garbage collector
    prefetcher = Prefetcher(batches, CPU)
    next(prefetcher)
    prefetcher.close()
    assert closed.is_set() and not prefetch_threads()
    with pytest.raises(StopIteration):
        next(prefetcher)


def test_a_prefetcher_left_running_is_closed_at_exit_and_when_dropped() -> None:
    from resreg.data import prefetch

    left = [Prefetcher(((torch.zeros(1),) for _ in range(3)), CPU) for _ in range(2)]
    next(left[0])
    prefetch._close_running()  # what atexit calls before the interpreter stops daemon threads wherever they are
    assert not prefetch_threads() and all(next(p, None) is None for p in left)
    dropped = Prefetcher(((torch.zeros(1),) for _ in range(3)), CPU)
    next(dropped)
    del dropped
    assert not prefetch_threads()


EXIT_WITH_AN_EPOCH_UNFINISHED = """
import torch
from resreg_plugins.datasets.imagefolder import imagefolder
from resreg.data import AugmentOptions, make_loader

source = imagefolder(root={root!r}, val_dir="", image_size=24)
loader = make_loader(source.train, batch_size=4, train=True, augment=AugmentOptions(), device=torch.device("cpu"),
                     seed=0, stats=source, num_workers={workers}, prefetch=True)
epoch = loader.batches(0)
next(epoch)  # the thread makes batch 1; nothing closes the iterator before the interpreter exits
print("exiting")
"""


@pytest.mark.slow
def test_the_interpreter_exits_with_an_epoch_unfinished(mixed) -> None:
    """Without the atexit close, about 1 in 10 of these processes aborted ("terminate called without an
    active exception", status -6): the interpreter had stopped the thread inside torch."""
    root = str(mixed.train.samples[0][0]).rsplit("/train/", 1)[0]
    scripts = [EXIT_WITH_AN_EPOCH_UNFINISHED.format(root=root, workers=workers) for workers in (0, 0, 0, 2)]
    processes = [subprocess.Popen([sys.executable, "-c", s], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for s in scripts]  # fmt: skip
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and out == "exiting\n" and "Traceback" not in err, (process.returncode, err)


def test_seeded_global_generators_are_one_threads_at_a_time() -> None:
    """The prefetch thread's RandAugment and the step's mixup both seed the global generators: neither may
    draw from the other's seed."""
    expected = {}
    for seed in (1, 2):
        with seeded_global_rngs(seed):
            expected[seed] = np.random.random()
    first_inside, second_inside, first_drew = threading.Event(), threading.Event(), threading.Event()
    drawn = {}

    def second() -> None:
        first_inside.wait(timeout=60)
        with seeded_global_rngs(2):
            second_inside.set()
            first_drew.wait(timeout=60)
            drawn[2] = np.random.random()

    thread = threading.Thread(target=second)
    thread.start()
    with seeded_global_rngs(1):
        first_inside.set()
        second_inside.wait(timeout=0.5)  # without the lock the second block has seeded the generators by now
        drawn[1] = np.random.random()
        first_drew.set()
    thread.join()
    assert drawn == expected


TRAIN = {
    "model": {"preset": "resnet20", "depths": [1, 1, 1]},
    "data": {"type": "imagefolder", "root": "data", "image_size": 16, "workers": 2, "prefetch": True},
    "train": {"preset": "fast", "length": "8 steps", "batch_size": 4, "eval_every": "3 steps"},
    "engine": {"progress": "lines", "checkpoint_every": 0},
    "eval": {"splits": ["val"]},
}


@pytest.mark.slow
def test_a_run_resumed_with_prefetch_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, cli, monkeypatch):
    write_mixed(tmp_path / "data", per_class=10)  # 20 train images: 5 batches an epoch
    write_mixed(tmp_path / "more", per_class=2)
    (tmp_path / "more" / "train").rename(tmp_path / "data" / "val")
    (tmp_path / "run.yaml").write_text(json.dumps(TRAIN))
    monkeypatch.chdir(tmp_path)
    whole = cli("train", "run.yaml", "--run-dir", "whole")
    assert whole.status == 0, whole.err
    assert re.search(r"prefetch +True \(set by data.prefetch\)", whole.out + whole.err), whole.out + whole.err
    # Interrupted within an epoch: the state saved at the step-3 or step-6 evaluation (best.pt) as the last checkpoint.
    resumed = Path(shutil.copytree("whole", "resumed"))
    (resumed / "checkpoints" / "best.pt").replace(resumed / "checkpoints" / "last.pt")
    (resumed / "model.safetensors").unlink()
    assert torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)["step"] in (3, 6)
    result = cli("train", "--resume", "resumed")
    assert result.status == 0, result.err
    final, expected = load_file(resumed / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    assert final.keys() == expected.keys() and all(torch.equal(final[k], expected[k]) for k in expected)
    assert not prefetch_threads()
