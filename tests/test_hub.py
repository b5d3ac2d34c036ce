"""The Hub, for real: huggingface_hub's own client over HTTP against tests/hub_server.py on 127.0.0.1.

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when it is imported, so everything that
talks to the Hub runs in a subprocess (`python -m resreg push/pull`, or a short script) with those
variables set; this process only starts the server and checks the files and outputs. No network.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest
import safetensors.torch
import torch
import yaml
from PIL import Image

import resreg
from resreg.models import load_model
from resreg.weights import save_model

sys.path.insert(0, str(Path(__file__).parent))
from hub_server import HubServer, SilentServer, StatusServer

TOKEN = "hf_resreg_test_secret_0123456789"
SHA = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def hub() -> HubServer:
    with HubServer() as server:
        yield server


def _env(hub: HubServer, home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN": TOKEN,
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "RESREG_DEBUG": "",
        **extra,
    }


def resreg_cli(hub: HubServer, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resreg", *args], capture_output=True, text=True, timeout=180, env=_env(hub, home, **env)
    )


def python(hub: HubServer, home: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=_env(hub, home, **env)
    )
    assert result.returncode == 0, result.stderr
    return result


def _run_dir(path: Path, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = resreg.create_model("resnet20").eval()
    save_model(model, path / "model.safetensors")
    (path / "config.yaml").write_text("name: r20-fmnist\ndata: fashion_mnist\nmodel: {preset: resnet20}\n")
    rows = [
        {"step": 100, "epoch": 1.0, "val_error": 0.2},
        {"step": 200, "epoch": 2.0, "val_error": 0.1, "test_error": 0.12},
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return model


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def _one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"resreg {command}: error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "inf"])
def test_a_timeout_is_a_finite_number_of_seconds(cli, seconds):
    result = cli("pull", "me/r20", "--timeout", seconds)  # refused before any request
    assert result.status == 2 and result.err.count("\n") == 1, result.err
    assert "a Hub timeout is a finite number of seconds above 0 (default 30)" in result.err


@pytest.mark.parametrize("label", ["{cwd}/cats", "{secret}"])
def test_a_file_holding_a_local_path_or_an_environment_value_is_not_published(cli, tmp_path, monkeypatch, label):
    """The last check before an upload: class names are the user's own, not scrubbed like the config, so a
    name holding the working directory or an environment variable's value must stop the push."""
    from resreg.artifact import Preprocessing

    secret = "s3cr3t-label-from-the-environment"
    monkeypatch.setenv("RESREG_TEST_SECRET", secret)
    monkeypatch.chdir(tmp_path)
    model = resreg.create_model("resnet20", in_chans=1, depths=[1, 1, 1], num_classes=2)
    names = ["dogs", label.format(cwd=tmp_path, secret=secret)]
    Preprocessing((1, 28, 28), (0.3,), (0.35,), label_names=names).attach(model)
    result = cli("push", str(save_model(model, tmp_path / "m.safetensors")), "me/leak", "--dry-run")
    assert result.status == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith("resreg push: error: refusing to publish resreg.yaml: it holds ")
    assert secret not in result.out and str(tmp_path) not in result.out


@pytest.fixture(scope="module")
def pushed(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two pushes of one run dir to me/r20 (the second with new weights) and one to a branch."""
    root = tmp_path_factory.mktemp("hub")
    run = root / "run"
    first = _run_dir(run, seed=0)
    result = resreg_cli(hub, root / "push-home", "push", str(run), "me/r20", "-m", "first")
    assert result.returncode == 0, result.stderr
    sha1 = result.stdout.strip()
    second = _run_dir(run, seed=1)
    main, dev = resreg_many(
        hub,
        root / "push-home",
        ["push", str(run), "me/r20"],
        ["push", str(run), "me/r20", "--revision", "dev", "--private"],
    )
    assert main[0] == 0 and dev[0] == 0, (main, dev)
    return {
        "root": root,
        "run": run,
        "first": first,
        "second": second,
        "sha1": sha1,
        "sha2": main[1].strip(),
        "dev": dev,
    }


def test_push_prints_and_records_the_commit_and_never_shows_the_token(hub, pushed):
    assert SHA.match(pushed["sha1"]) and SHA.match(pushed["sha2"]) and pushed["sha1"] != pushed["sha2"]
    log = [json.loads(line) for line in (pushed["run"] / "pushes.jsonl").read_text().splitlines()]
    assert [entry["commit"] for entry in log[:2]] == [pushed["sha1"], pushed["sha2"]]
    assert log[2]["revision"] == "dev"
    assert f"Bearer {TOKEN}" in hub.authorizations  # the token went through huggingface_hub...
    for path in pushed["run"].rglob("*"):  # ...and nowhere else
        assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in pushed["dev"][1] + pushed["dev"][2]


def test_pull_into_an_empty_cache_gives_identical_outputs_and_the_full_layout(hub, pushed, tmp_path):
    result = resreg_cli(hub, tmp_path / "fresh-home", "pull", "me/r20", "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pushed["sha2"]
    out = tmp_path / "out"
    assert {"model.safetensors", "resreg.yaml", "README.md", "curves.png"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "pulled.json").read_text()) == {"repo_id": "me/r20", "commit": pushed["sha2"]}
    assert _same(load_model(out), pushed["second"])
    record = yaml.safe_load((out / "resreg.yaml").read_text())
    assert record["spec"] == pushed["second"].resreg_spec and record["resreg_version"] == resreg.__version__
    assert record["plugins"] == {"resreg": resreg.__version__} and record["train"]["name"] == "r20-fmnist"
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "resreg" and front["datasets"] == ["fashion_mnist"] and "resnet" in front["tags"]
    assert "| test_error | 12.00% |" in card and "![training curves](curves.png)" in card


def test_pinned_revision_and_offline_from_the_cache(hub, pushed, tmp_path):
    home = tmp_path / "home"
    pinned, dev = resreg_many(
        hub, home, ["pull", f"me/r20@{pushed['sha1']}", "--to", str(tmp_path / "old")], ["pull", "me/r20@dev"]
    )
    assert pinned[:2] == (0, pushed["sha1"] + "\n"), pinned
    assert _same(load_model(tmp_path / "old"), pushed["first"])
    assert dev[0] == 0 and SHA.match(dev[1].strip()), dev
    asked = len(hub.requests)
    offline, missing = resreg_many(
        hub, home, ["pull", f"me/r20@{pushed['sha1']}"], ["pull", "me/never-pulled"], HF_HUB_OFFLINE="1"
    )
    assert offline[:2] == (0, pushed["sha1"] + "\n"), offline
    assert missing[0] == 2 and "not in the local cache" in missing[2] and missing[2].count("\n") == 1, missing
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in missing[2] and "resreg pull me/never-pulled" in missing[2]
    assert missing[3] < 2, missing  # seconds: no retries, no waiting for a network that is switched off
    assert len(hub.requests) == asked  # offline means offline: the server heard nothing


def test_timm_push_to_hf_hub_loads_into_the_resreg_preset(hub, tmp_path):
    code = (
        "import torch, timm\n"
        "from timm.models import push_to_hf_hub\n"
        "torch.manual_seed(0)\n"
        "m = timm.create_model('resnet18', pretrained=False).eval()\n"
        "push_to_hf_hub(m, 'timm/resnet18.resreg_test', safe_serialization=True)\n"
        f"torch.save(m.state_dict(), {str(tmp_path / 'timm.pt')!r})\n"
    )
    python(hub, tmp_path / "home", code)
    code = (
        "import torch, timm, resreg\n"
        "from resreg.models import load_model\n"
        "ref = timm.create_model('resnet18', pretrained=False).eval()\n"
        f"ref.load_state_dict(torch.load({str(tmp_path / 'timm.pt')!r}))\n"
        "x = torch.randn(2, 3, 64, 64)\n"
        "a = resreg.create_model('resnet18', pretrained='hf-hub:timm/resnet18.resreg_test').eval()\n"
        "b = load_model('hf-hub:timm/resnet18.resreg_test').eval()\n"
        "with torch.no_grad():\n"
        "    print(max((a(x) - ref(x)).abs().max().item(), (b(x) - ref(x)).abs().max().item()))\n"
        "from resreg.cli.main import main\n"
        "main(['pull', 'timm/resnet18.resreg_test'])\n"
    )
    difference, sha = python(hub, tmp_path / "home2", code).stdout.split()
    assert float(difference) <= 1e-5 and SHA.match(sha)


def _upload(hub: HubServer, home: Path, repos: dict[str, dict[str, Path]]) -> None:
    """Put files in repos with the plain client (no resreg), as someone else's tool would."""
    lines = ["from huggingface_hub import HfApi, CommitOperationAdd", "api = HfApi()"]
    for repo_id, files in repos.items():
        operations = ", ".join(f"CommitOperationAdd({name!r}, {str(path)!r})" for name, path in files.items())
        lines += [
            f"api.create_repo({repo_id!r})",
            f"api.create_commit({repo_id!r}, [{operations}], commit_message='up')",
        ]
    python(hub, home, "\n".join(lines))


def _upload_old_timm_repo(hub, folder: Path, repo_id: str) -> None:
    """`repo_id` as old timm repos are: folder/pytorch_model.bin (written by the caller) beside a config.json."""
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet20", "num_classes": 10}))
    _upload(hub, folder / "up", {repo_id: {n: folder / n for n in ("pytorch_model.bin", "config.json")}})


def test_a_pickle_is_downloaded_only_when_allowed(hub, tmp_path):
    """A repo as old timm ones are: pytorch_model.bin beside config.json. A pull fetches the pickle only
    when allow_pickle is given; without it the file never reaches the disk."""
    (tmp_path / "pytorch_model.bin").write_bytes(b"a pickle's bytes, never unpickled here")
    _upload_old_timm_repo(hub, tmp_path, "old/r20-pickle")
    code = (
        "import json\n"
        "from resreg.hub.pull import download\n"
        "for allow in (False, True):\n"
        "    folder, _ = download('old/r20-pickle', allow_pickle=allow)\n"
        "    print(json.dumps(sorted(p.name for p in folder.iterdir())))\n"
    )
    fetched = [json.loads(line) for line in python(hub, tmp_path / "home", code).stdout.splitlines()]
    assert fetched == [["config.json"], ["config.json", "pytorch_model.bin"]]


@pytest.mark.slow  # an interpreter start with torch, about 6 s
def test_a_pulled_pickle_loads_only_with_allow_pickle(hub, tmp_path):
    """load_model passes allow_pickle on to the pull: refused without it (the folder has no weights
    file), the same weights with it."""
    torch.manual_seed(0)
    model = resreg.create_model("resnet20").eval()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    _upload_old_timm_repo(hub, tmp_path, "old/r20-weights")
    code = (
        "import torch\n"
        "from resreg.errors import WeightsError\n"
        "from resreg.models import load_model\n"
        "try:\n"
        "    load_model('hf-hub:old/r20-weights')\n"
        "except WeightsError as exc:\n"
        "    print(exc)\n"
        "model = load_model('hf-hub:old/r20-weights', allow_pickle=True)\n"
        f"torch.save(model.state_dict(), {str(tmp_path / 'loaded.pt')!r})\n"
    )
    refused = python(hub, tmp_path / "home", code).stdout.strip()
    assert refused.endswith(": no model.safetensors in this folder (found: config.json)"), refused
    loaded = torch.load(tmp_path / "loaded.pt", weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def resreg_many(hub: HubServer, home: Path, *commands: list[str], **env: str) -> list[tuple[int, str, str]]:
    """Run several `resreg` commands through the real CLI entry (`main`) in one subprocess, so the
    suite pays for one torch import instead of one per command; returns (status, stdout, stderr, seconds)
    each, the seconds being the command's own time, start-up left out."""
    code = (
        "import contextlib, io, json, time\n"
        "import resreg.plugins, huggingface_hub\n"
        "resreg.plugins.get_plugins()\n"
        "from resreg.cli.main import main\n"
        "results = []\n"
        f"for argv in {[list(c) for c in commands]!r}:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    started = time.perf_counter()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        status = main(argv)\n"
        "    results.append([status, out.getvalue(), err.getvalue(), time.perf_counter() - started])\n"
        "print(json.dumps(results))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=_env(hub, home, **env)
    )
    assert result.returncode == 0, result.stderr
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


def _cli_errors(hub: HubServer, home: Path, *commands: list[str]) -> list[str]:
    """Each command must fail with status 2 and one line on stderr, which is returned."""
    results = resreg_many(hub, home, *commands)
    for (status, _, err, _), argv in zip(results, commands, strict=True):
        assert status == 2 and err.startswith(f"resreg {argv[0]}: error: ") and err.count("\n") == 1, (argv, err)
    return [err for _, _, err, _ in results]


def test_pull_errors_name_what_is_wrong_on_one_line(hub, pushed, tmp_path):
    weights = pushed["run"] / "model.safetensors"
    spec = {**pushed["second"].resreg_spec, "block": {"type": "se_basic", "reduction": 16}}
    components = [
        {"kind": "builder", "name": "resnet", "distribution": "resreg", "version": resreg.__version__},
        {"kind": "block", "name": "se_basic", "distribution": "resreg-se", "version": "0.3.1"},
    ]
    (tmp_path / "se.yaml").write_text(yaml.safe_dump({"spec": spec, "components": components}))
    (tmp_path / "r32.yaml").write_text(yaml.safe_dump({"spec": resreg.create_model("resnet32").resreg_spec}))
    _upload(hub, tmp_path / "home", {
        "other/se-model": {"model.safetensors": weights, "resreg.yaml": tmp_path / "se.yaml"},
        "other/wrong-shapes": {"model.safetensors": weights, "resreg.yaml": tmp_path / "r32.yaml"},
    })  # fmt: skip
    missing_plugin, wrong_shapes, no_repo, no_revision, bad_id = _cli_errors(
        hub,
        tmp_path / "home",
        ["pull", "other/se-model"],
        ["pull", "other/wrong-shapes"],
        ["pull", "me/no-such-repo"],
        ["pull", "me/r20@no-such-branch"],
        ["pull", "not-a-repo-id"],
    )
    assert "block 'se_basic' is not provided by any installed plugin" in missing_plugin
    assert "'resreg-se' 0.3.1: pip install resreg-se" in missing_plugin and "hf-hub:other/se-model@" in missing_plugin
    assert "weights do not fit the model" in wrong_shapes and "missing" in wrong_shapes
    assert "repository not found" in no_repo and "no such revision" in no_revision
    assert "owner/name[@revision]" in bad_id


def test_an_ensemble_pushes_and_pulls_as_one_repo(hub, tmp_path):
    torch.manual_seed(0)
    small = {"preset": "resnet20", "depths": [1, 1, 1]}
    ensemble = resreg.create_model({"type": "ensemble", "members": [small, {**small, "block": "preact_basic"}]})
    path = save_model(ensemble.eval(), tmp_path / "ensemble.safetensors")
    result = resreg_cli(hub, tmp_path / "home", "push", str(path), "me/ensemble")
    assert result.returncode == 0, result.stderr
    result = resreg_cli(hub, tmp_path / "fresh", "pull", "me/ensemble", "--to", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    record = yaml.safe_load((tmp_path / "out" / "resreg.yaml").read_text())
    assert {"kind": "block", "name": "preact_basic"}.items() <= next(
        c for c in record["components"] if c["name"] == "preact_basic"
    ).items()  # the members' components are recorded, not only the ensemble's
    assert _same(load_model(tmp_path / "out"), ensemble)


def test_offline_loading_from_the_cache_opens_no_socket(hub, pushed, tmp_path):
    home = tmp_path / "home"
    assert resreg_cli(hub, home, "pull", "me/r20").returncode == 0  # online once: the cache holds it
    asked = len(hub.requests)
    code = (
        "import socket, torch, resreg, resreg.plugins\n"
        "from pytest_socket import disable_socket\n"
        "from resreg.cli.main import main\n"
        "from resreg.models import load_model\n"
        "resreg.plugins.get_plugins()\n"
        "disable_socket(allow_unix_socket=False)  # any socket from here on raises\n"
        "try:\n"
        "    socket.socket()\n"
        "except Exception as exc:\n"
        "    print('blocked:', type(exc).__name__)\n"
        "a = load_model('hf-hub:me/r20')\n"
        "b = resreg.create_model('resnet20', pretrained='hf-hub:me/r20')\n"
        "assert main(['pull', 'me/r20']) == 0\n"
        "print(repr(a.fc.weight.sum().item()), repr(b.fc.weight.sum().item()))\n"
    )
    lines = python(hub, home, code, HF_HUB_OFFLINE="1").stdout.splitlines()
    assert lines[0] == "blocked: SocketBlockedError"
    assert lines[-1].split() == [repr(pushed["second"].fc.weight.sum().item())] * 2
    assert len(hub.requests) == asked


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_network_no_token_and_offline_are_told_apart_in_resregs_words(tmp_path):
    path = save_model(resreg.create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / "m.safetensors")
    nowhere = types.SimpleNamespace(url=f"http://127.0.0.1:{_closed_port()}")
    dry, pull, push = resreg_many(
        nowhere,
        tmp_path / "home",
        ["push", str(path), "me/m", "--dry-run"],
        ["pull", "me/r20"],
        ["push", str(path), "me/m"],
    )
    for status, _, err, _ in (pull, push):
        assert status == 2 and err.count("\n") == 1, err
        assert f"the Hub at {nowhere.url} is unreachable (connection refused); check the network" in err
    # seconds, not retries: a pull fails at once; a push after preparing its files (what --dry-run does)
    assert pull[3] < 5 and push[3] < dry[3] + 5, (pull, push, dry)
    assert "or set HF_HUB_OFFLINE=1 to load hf-hub:me/r20 from the local cache" in pull[2]
    (offline,) = resreg_many(nowhere, tmp_path / "home", ["push", str(path), "me/m"], HF_HUB_OFFLINE="1")
    assert offline[0] == 2 and offline[2] == (
        "resreg push: error: hf-hub:me/m: offline mode is on (HF_HUB_OFFLINE=1); unset HF_HUB_OFFLINE to upload\n"
    )
    with HubServer(write_tokens={"hf_the_right_one"}) as strict:
        (denied,) = resreg_many(strict, tmp_path / "home", ["push", str(path), "me/m"])
    assert denied[0] == 2 and denied[2] == (
        "resreg push: error: hf-hub:me/m: not authorised to write to this repository (HTTP 401); set HF_TOKEN or "
        "run `huggingface-cli login` (hf auth login) with a token that may write to it\n"
    )
    assert "Invalid username or password" not in denied[2]  # resreg's words, not a pasted server reply


def test_a_hub_that_never_answers_times_out_in_one_line(tmp_path):
    path = save_model(resreg.create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / "m.safetensors")
    with SilentServer() as silent:
        dry, pull, push = resreg_many(
            silent,
            tmp_path / "home",
            ["push", str(path), "me/m", "--dry-run"],
            ["pull", "me/r20", "--timeout", "2"],
            ["push", str(path), "me/m", "--timeout", "2"],
            HF_HUB_ETAG_TIMEOUT="600",  # huggingface_hub's variables cannot lengthen resreg's limit
            HF_HUB_DOWNLOAD_TIMEOUT="600",
        )
        assert silent.connections  # the server was reached: it accepted and said nothing
    for status, _, err, _ in (pull, push):
        assert status == 2 and err.count("\n") == 1, err
        assert f"the Hub at {silent.url} timed out: no answer within 2 s; check the network" in err
    # one request's timeout, not huggingface_hub's retries (6 tries and 23 s of back-off); a push's own
    # time includes preparing its files, which is what --dry-run does
    assert 2 <= pull[3] < 15 and 2 <= push[3] < dry[3] + 15, (pull, push, dry)
    assert "(--timeout allows longer), or set HF_HUB_OFFLINE=1" in pull[2] and "then push again" in push[2]


def test_an_http_error_status_is_named_with_what_it_means(tmp_path):
    path = save_model(resreg.create_model({"preset": "resnet20", "depths": [1, 1, 1]}), tmp_path / "m.safetensors")
    meanings = {
        500: ("failed with a server error (HTTP 500", "try again later"),
        503: ("failed with a server error (HTTP 503", "try again later"),
        401: ("not authorised to {access} this repository (HTTP 401)", "set HF_TOKEN"),
        403: ("not authorised to {access} this repository (HTTP 403)", "set HF_TOKEN"),
        404: ("not found at {url} (HTTP 404", "check the repo id, and that HF_ENDPOINT is a Hub"),
    }
    with StatusServer() as server:
        commands = [[*argv, f"me/status-{status}"] for status in meanings for argv in (["pull"], ["push", str(path)])]
        errors = _cli_errors(server, tmp_path / "home", *commands)
    for argv, err in zip(commands, errors, strict=True):
        status, access = int(argv[-1][-3:]), "read" if argv[0] == "pull" else "write to"
        what, remedy = meanings[status]
        assert what.format(access=access, url=server.url) in err and remedy in err, err
        assert "unreachable" not in err and "no connection" not in err, err


def test_a_pulled_resreg_yaml_is_read_within_limits(tmp_path, cli):
    folder = tmp_path / "pulled"  # what a repo's snapshot holds: weights and the record beside them
    save_model(resreg.create_model({"preset": "resnet20", "depths": [1, 1, 1]}), folder / "model.safetensors")
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    (folder / "resreg.yaml").write_text("spec: {preset: resnet20}\n" + "\n".join(levels) + "\n")
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    result = cli("predict", str(folder), str(tmp_path / "x.png"))
    assert result.status == 2 and result.err.count("\n") == 1, result.err
    assert f"{folder / 'resreg.yaml'}: YAML aliases expand it past 100,000 values" in result.err
    with (folder / "resreg.yaml").open("r+b") as file:
        file.truncate(5_000_000)  # 5 MB: refused from its size
    assert "5,000,000 bytes is over the 1,048,576 bytes (1 MiB)" in cli("predict", str(folder), str(tmp_path)).err


def test_strip_prefix_works_for_hub_sources(hub, tmp_path):
    torch.manual_seed(0)
    small = resreg.create_model({"preset": "resnet20", "depths": [1, 1, 1]}).eval()
    wrapped = {f"model.{k}": v.contiguous() for k, v in small.state_dict().items()}
    safetensors.torch.save_file(wrapped, str(tmp_path / "wrapped.safetensors"))
    _upload(hub, tmp_path / "home", {"other/wrapped": {"model.safetensors": tmp_path / "wrapped.safetensors"}})
    code = (
        "import resreg\n"
        "from resreg.errors import WeightsError\n"
        "spec = {'preset': 'resnet20', 'depths': [1, 1, 1], 'pretrained': 'hf-hub:other/wrapped'}\n"
        "try:\n"
        "    resreg.create_model(spec)\n"
        "except WeightsError as exc:\n"
        "    print(exc)\n"
        "model = resreg.create_model({**spec, 'pretrained_strip_prefix': 'model.'})\n"
        "print(repr(model.fc.weight.sum().item()))\n"
    )
    message, total = python(hub, tmp_path / "home", code).stdout.splitlines()
    assert "every key starts with 'model.'" in message and "pretrained_strip_prefix: 'model.'" in message
    assert total == repr(small.fc.weight.sum().item())


@pytest.mark.slow
def test_a_pushed_run_publishes_no_secret_and_no_local_path(hub, tmp_path):
    """A real run whose config takes a secret and a data folder from the environment, pushed for real."""
    secret = "s3cr3t-value-from-the-environment-42"
    (tmp_path / "config.yaml").write_text(
        "name: exp-${oc.env:RESREG_TEST_SECRET}\n"
        "model: {preset: resnet20, depths: [1, 1, 1], in_chans: 1}\n"
        "data: {type: fashion_mnist, root: '${oc.env:RESREG_TEST_DATA}', download: false, limit: 64}\n"
        "train: {preset: fast, unit: step, length: 2, eval_every: 1, batch_size: 32, schedule: {warmup: 0}}\n"
        "engine: {log_every: 1, progress: none, precision: fp32, channels_last: false}\n"
        "eval: {splits: [test], batch_size: 2000}\n"
    )
    run = tmp_path / "runs" / "exp"
    env = {"RESREG_TEST_SECRET": secret, "RESREG_TEST_DATA": "/usr/share/datasets/fashion-mnist"}
    trained = resreg_cli(hub, tmp_path / "home", "train", str(tmp_path / "config.yaml"), "--run-dir", str(run), **env)
    assert trained.returncode == 0, trained.stderr
    assert secret in (run / "config.yaml").read_text()  # the run itself keeps what it resolved
    dry, pushed = resreg_many(
        hub, tmp_path / "home", ["push", str(run), "me/secret", "--dry-run"], ["push", str(run), "me/secret"], **env
    )
    assert dry[0] == 0 and pushed[0] == 0, (dry, pushed)
    files = hub.repos["me/secret"].commits[pushed[1].strip()]
    assert {"model.safetensors", "resreg.yaml", "README.md"} <= set(files)
    for name, content in files.items():
        for private in (secret, str(run), str(run.resolve()), "/usr/share/datasets", str(tmp_path)):
            assert private.encode() not in content, (name, private)
    record = yaml.safe_load(files["resreg.yaml"])
    assert record["train"]["data"] == {"type": "fashion_mnist"}
    assert record["train"]["train"]["length"] == 2 and "name" not in record["train"]
    assert set(record["metrics"]) >= {"test_error"}
    # --dry-run printed each file exactly as it was then uploaded
    for name in ("resreg.yaml", "README.md"):
        assert f"== {name} ({len(files[name])} bytes) ==\n{files[name].decode()}" in dry[1]
    assert secret not in dry[1] and "model.safetensors" in dry[1]
