"""DDP through a real torchrun (gloo, CPU): 2 processes give the loss trajectory of 1 process with the
same global batch; 2 nodes of 1 process (c10d rendezvous) and 2 srun tasks (SLURM's variables) give
the 2-process weights; torchrun --max-restarts after a worker is killed resumes from the checkpoint.

Tolerance: relative 1e-4 per step on the train loss (and on the final test loss), absolute 1e-4 on
the final weights. The only difference allowed is the order of floating-point sums (two half-batch
gradients all-reduced vs one batch). The model is a small conv net WITHOUT BatchNorm, registered by a
throw-away plugin distribution: BatchNorm statistics are per process in DDP (SyncBatchNorm runs on
GPUs only), which would make the trajectories differ by design, not by a bug.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin_site import write_plugin_site
from safetensors.torch import load_file
from training_probe import probe_site, probed_processes

from resreg.engine.distributed import World, first_host, processes_sharing_cores, world_from_env

slow = pytest.mark.slow  # each runs real processes: 20-40 s on 2 cores

PLUGIN = '''
import torch.nn as nn
import resreg


class NoNormNet(nn.Module):
    """Two convolutions and a linear classifier, no normalisation (a test plugin)."""

    def __init__(self, *, num_classes: int = 10, in_chans: int = 3, width: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width, num_classes)
        self.pretrained_cfg = {"num_classes": num_classes, "input_size": (in_chans, 16, 16)}

    def forward(self, x):
        return self.fc(self.features(x))


@resreg.hookimpl
def resreg_register(registry):
    registry.register("builder", "nonorm", NoNormNet)
'''

CONFIG = {
    "name": "ddp",
    "model": {"type": "nonorm"},
    "data": {"type": "synthetic", "num_images": 512, "image_size": 16, "num_classes": 4},
    "train": {"preset": "fast", "unit": "step", "length": 16, "batch_size": 64, "eval_every": 16, "lr": 0.1,
              "augment": {"crop_padding": 2, "hflip": True}, "schedule": {"warmup": 0}},
    "engine": {"log_every": 1, "checkpoint_every": 0, "progress": "lines", "threads": 1, "precision": "fp32",
               "channels_last": False},
}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A plugin distribution on a path entry (tests/plugin_site.py)."""
    return write_plugin_site(tmp_path_factory.mktemp("site"), "nonorm", PLUGIN)


LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def environment(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES and not k.startswith("SLURM_")}
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path, "RESREG_DEBUG": "1", "OMP_NUM_THREADS": "1", **extra}


def train(site: Path, cwd: Path, *args: str, **popen: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "resreg", "train", *args], cwd=cwd, env=environment(site), capture_output=True,
        text=True, timeout=300, **popen,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_all(processes: list[subprocess.Popen[str]], timeout: float = 300) -> list[str]:
    """Wait for every process; their stderr; each must have exited 0."""
    errors = [p.communicate(timeout=timeout)[1] for p in processes]
    for process, err in zip(processes, errors, strict=True):
        assert process.returncode == 0, err[-3000:]
    return errors


def assert_same_weights(a: Path, b: Path, tolerance: float = 0.0) -> None:
    one, two = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert one.keys() == two.keys()
    for key in one:
        assert (one[key] - two[key]).abs().max() <= tolerance, key


def metrics(run_dir: Path) -> tuple[list[float], dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in rows if "train_loss" in r], next(r for r in rows if "test_loss" in r)


@pytest.fixture(scope="module")
def runs(site, tmp_path_factory) -> Path:
    """A directory with ddp.yaml and `two/`, the 2-process run (`--nproc 2`) the others are compared with.

    It runs pinned to one core, so `--nproc 2` must warn that its processes outnumber the cores (and
    still train correctly)."""
    root = tmp_path_factory.mktemp("runs")
    (root / "ddp.yaml").write_text(json.dumps(CONFIG))
    one_core = {min(os.sched_getaffinity(0))}
    result = train(
        site, root, "ddp.yaml", "--nproc", "2", "--run-dir", "two", preexec_fn=lambda: os.sched_setaffinity(0, one_core)
    )
    warnings = [line for line in result.stderr.splitlines() if "warning: --nproc 2" in line]
    assert len(warnings) == 1 and "1 CPU core(s) and no GPU" in warnings[0], result.stderr[-2000:]
    return root


@slow
def test_two_processes_follow_the_one_process_trajectory(site, runs, tmp_path):
    train(site, tmp_path, str(runs / "ddp.yaml"), "--run-dir", "one")

    one_losses, one_test = metrics(tmp_path / "one")
    two_losses, two_test = metrics(runs / "two")
    assert len(one_losses) == len(two_losses) == 16
    assert two_losses == pytest.approx(one_losses, rel=1e-4)
    assert len({round(loss, 5) for loss in one_losses}) > 8  # the losses move: the comparison is not vacuous
    assert two_test["test_loss"] == pytest.approx(one_test["test_loss"], rel=1e-4)
    assert two_test["test_error"] == pytest.approx(one_test["test_error"], abs=1e-9)

    assert_same_weights(tmp_path / "one", runs / "two", tolerance=1e-4)


@slow
def test_two_nodes_of_one_process_meet_through_c10d_and_train_as_two_processes(site, runs, tmp_path):
    endpoint = f"127.0.0.1:{free_port()}"
    node = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={endpoint}", "--rdzv-id=two-nodes", "-m", "resreg", "train", str(runs / "ddp.yaml"),
            "--run-dir", "nodes"]  # fmt: skip
    nodes = [start(node, tmp_path, environment(site)) for _ in range(2)]
    errors = wait_all(nodes)
    assert sum("finished at step 16" in err for err in errors) == 1, errors  # rank 0 alone reports
    assert_same_weights(tmp_path / "nodes", runs / "two")


@slow
def test_srun_tasks_train_from_slurm_variables(site, runs, tmp_path):
    slurm = {"SLURM_NTASKS": "2", "SLURM_NODEID": "0", "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "localhost",
             "MASTER_PORT": str(free_port())}  # fmt: skip
    task = [sys.executable, "-m", "resreg", "train", str(runs / "ddp.yaml"), "--run-dir", "srun"]
    envs = [environment(site, SLURM_PROCID=str(i), SLURM_LOCALID=str(i), **slurm) for i in (0, 1)]
    tasks = [start(task, tmp_path, env) for env in envs]
    errors = wait_all(tasks)
    assert "cpu x 2 processes" in errors[0] and "finished at step 16" in errors[0], errors[0][-2000:]
    assert_same_weights(tmp_path / "srun", runs / "two")


def test_slurm_variables_give_rank_world_and_master():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODEID": "1",
           "SLURM_STEP_TASKS_PER_NODE": "4(x2)", "SLURM_JOB_NODELIST": "gpu[007-008]",
           "SLURM_JOB_ID": "123456"}  # fmt: skip
    assert world_from_env(env) == World(5, 8, 1, 4, "tcp://gpu007:18456", "slurm")
    assert world_from_env({**env, "MASTER_ADDR": "head", "MASTER_PORT": "29400"}).init_method == "tcp://head:29400"
    launch_node = {k: v for k, v in env.items() if k != "SLURM_JOB_NODELIST"} | {"SLURM_LAUNCH_NODE_IPADDR": "10.0.0.9"}
    assert world_from_env(launch_node).init_method == "tcp://10.0.0.9:18456"
    assert world_from_env({**env, "SLURM_NTASKS": "1"}) == World()  # one task: no process group
    assert world_from_env({**env, "RANK": "0", "WORLD_SIZE": "2"}).launcher == "torchrun"  # torchrun under srun wins


def test_srun_tasks_bound_to_cores_of_their_own_share_them_with_nobody():
    cores = len(os.sched_getaffinity(0))
    assert processes_sharing_cores(4, {"SLURM_CPUS_PER_TASK": str(cores)}) == 1  # srun bound this task to them
    assert processes_sharing_cores(4, {}) == 4  # torchrun's workers share the node's cores
    if cores > 1:  # more cores than the task was given: not bound, so shared
        assert processes_sharing_cores(4, {"SLURM_CPUS_PER_TASK": str(cores - 1)}) == 4


@pytest.mark.parametrize(
    ("nodelist", "first"),
    [("node7", "node7"), ("gpu[003-008,012],cpu1", "gpu003"), ("a-b[12,3]", "a-b12"), ("x[1-2],y[3]", "x1")],
)
def test_first_host_of_a_slurm_host_list(nodelist, first):
    assert first_host(nodelist) == first


LONG = {**CONFIG, "name": "restart",
        "train": {**CONFIG["train"], "length": 400, "eval_every": 400},
        "engine": {**CONFIG["engine"], "log_every": 10, "checkpoint_every": 20}}  # fmt: skip


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def rank_of(pid: int) -> int | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    ranks = [int(v.split(b"=", 1)[1]) for v in environ if v.startswith(b"RANK=")]
    return ranks[0] if ranks else None


@slow
def test_torchrun_restart_after_a_killed_worker_resumes_from_the_last_checkpoint(tmp_path):
    """The restarted processes start at the checkpoint's step and train only the steps after it: a
    probe plugin (tests/training_probe.py) records them on rank 0."""
    site = write_plugin_site(probe_site(tmp_path / "site"), "nonorm", PLUGIN)
    (tmp_path / "long.yaml").write_text(json.dumps(LONG))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               "--max-restarts=1", "-m", "resreg", "train", "long.yaml", "--run-dir", "run"]  # fmt: skip
    agent = start(command, tmp_path, environment(site, RESREG_PROBE_LOG=str(tmp_path / "probe.jsonl")))
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 200
    while not checkpoint.exists():
        assert agent.poll() is None, agent.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.01)
    worker = next(pid for pid in children(agent.pid) if rank_of(pid) == 1)
    os.kill(worker, signal.SIGKILL)
    assert not (tmp_path / "run" / "model.safetensors").exists(), "the run ended before the kill: make it longer"

    _, err = agent.communicate(timeout=300)
    assert agent.returncode == 0, err[-3000:]
    resumed = [int(m.replace(",", "")) for m in re.findall(r"resuming at step ([\d,]+)", err)]
    assert len(resumed) == 1 and 20 <= resumed[0] < 400 and resumed[0] % 20 == 0, err[-3000:]
    assert "finished at step 400" in err
    steps = [row["step"] for row in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if "train_loss" in row]  # fmt: skip
    assert steps == list(range(10, 401, 10))  # the rows after the checkpoint were written once, by the resumed run
    first, restarted = probed_processes(tmp_path / "probe.jsonl")
    assert first["start"] == 0 and restarted["start"] == resumed[0]
    assert restarted["steps"] == list(range(resumed[0] + 10, 401, 10))
