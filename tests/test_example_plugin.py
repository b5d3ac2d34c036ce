"""The third-party example plugin (examples/resreg-se), installed for real and used through the CLI.

The distribution is built and installed with pip (no network, no build isolation) into a temporary
folder that subprocesses get on PYTHONPATH, as tests/test_plugin_discovery.py does: the plugin is
found through its entry point only. Then: it is listed with its distribution, the plugin's own tests
(written with the `resreg.testing` kit) and the generic model tests cover its components, its
seresnet50 and ecaresnet50d take timm's weights, a config with `block: inverted_residual` trains, and a
model pushed to the (local) Hub records the dependency, so pulling it without the plugin names
`pip install resreg-se`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from conftest import PROCESS_TIMEOUT_S
from hub_server import HubServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resreg-se"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, install_plugins) -> Path:
    root = tmp_path_factory.mktemp("resreg-se")
    source = shutil.copytree(EXAMPLE, root / "src")  # setuptools writes build/ and egg-info beside the source
    return install_plugins(source)  # tests/conftest.py


def run(argv: list[str], site: Path | None, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """A subprocess with the plugin installed (`site`) or absent (None)."""
    environment = {**os.environ, "RESREG_DEBUG": "", **env}
    environment.pop("PYTHONPATH", None)
    if site is not None:
        environment["PYTHONPATH"] = str(site)
    return subprocess.run(argv, capture_output=True, text=True, env=environment, cwd=cwd, timeout=PROCESS_TIMEOUT_S)


def resreg_many(site: Path | None, *commands: list[str], **env: str) -> list[tuple[int, str, str]]:
    """Several `resreg` commands through the real CLI entry (`main`) in one subprocess, which pays for
    one torch import instead of one per command; returns (status, stdout, stderr) of each."""
    code = (
        "import contextlib, io, json\n"
        "from resreg.cli.main import main\n"
        "results = []\n"
        f"for argv in {[list(c) for c in commands]!r}:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        status = main(argv)\n"
        "    results.append([status, out.getvalue(), err.getvalue()])\n"
        "print(json.dumps(results))\n"
    )
    result = run([sys.executable, "-c", code], site, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


def test_listed_with_its_distribution_and_by_resreg_plugins(site):
    (status, blocks, _), (_, attns, _), (_, plugins, plugins_err) = resreg_many(
        site, ["list", "blocks", "-v"], ["list", "attn", "-v"], ["plugins"]
    )
    assert status == 0
    line = next(line for line in blocks.splitlines() if line.startswith("inverted_residual"))
    assert "se (resreg-se)" in line and "MobileNetV2's inverted residual" in line, blocks
    # the block's own argument, then the ones the template gives it through **kwargs, with their whole help
    block_params = blocks.split("inverted_residual", 1)[1].split("\n")[1:4]
    assert [p.split(":")[0].strip() for p in block_params] == ["expand_ratio", "attn", "zero_init_last"]
    assert "    kernel_size: int | null = None  # size of the 1D convolution (default: adapted" in attns
    assert any(line.startswith("se ") and "resnet" in line for line in attns.splitlines()), attns  # built in
    assert plugins_err == ""
    assert "se  [loaded]  resreg-se 0.1.0  (resreg_se)" in plugins
    assert "    block: inverted_residual\n    attn: eca\n    model: ecaresnet50d, seresnet50" in plugins


def test_the_plugins_own_tests_run_resregs_checks_over_it(site):
    """examples/resreg-se/tests uses the kit (resreg.testing): every component gets the generic checks."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")]
    result = run(argv, site, cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    # every component: contract, documented, forward_backward, save_load; the block and the attention also
    # own_init, the block zero_init_last, the two presets features: 5 (eca) + 6 (inverted_residual) + 2 x 5;
    # and one test of its own (eca's kernel size)
    assert summary.startswith("22 passed"), summary


def test_generic_model_tests_cover_the_plugin(site):
    """tests/test_models.py is parametrised over the registry: installing the plugin adds its cases."""
    select = "seresnet50 or ecaresnet50d or inverted_residual"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_models.py")]
    result = run([*argv, "-k", select], site, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    passed = int(result.stdout.strip().splitlines()[-1].split(" passed")[0].split()[-1])
    assert passed >= 6, result.stdout[-500:]  # the preset's cases and one per block


@pytest.mark.parametrize(("name", "params"), [("seresnet50", 28_088_024), ("ecaresnet50d", 25_576_350)])
def test_presets_have_timms_keys_and_logits(site, name, params):
    code = f"""if True:
        import torch, timm, resreg
        torch.manual_seed(0)
        theirs = timm.create_model("{name}").eval()
        ours = resreg.create_model("{name}").eval()
        a, b = theirs.state_dict(), ours.state_dict()
        assert list(a) == list(b), [k for k in a if k not in b][:5]
        assert all(a[k].shape == b[k].shape for k in a)
        ours.load_state_dict(a, strict=True)
        x = torch.randn(2, 3, 96, 96)
        with torch.no_grad():
            print((theirs(x) - ours(x)).abs().max().item(), sum(p.numel() for p in ours.parameters()))
        assert ours.pretrained_cfg["input_size"] == (3, 224, 224) and ours.pretrained_cfg["classifier"] == "fc"
    """
    result = run([sys.executable, "-c", code], site)
    assert result.returncode == 0, result.stderr
    difference, count = result.stdout.split()
    assert float(difference) <= 1e-5
    assert int(count) == params  # timm's


def test_trains_pushes_records_the_dependency_and_names_it_when_absent(site, tmp_path):
    run_dir = tmp_path / "runs" / "se20"
    short = [
        "data={type: synthetic, num_images: 64, in_chans: 1, num_classes: 10}", "model.block=inverted_residual",
        "train.length=3 steps", "train.eval_every=1 step", "train.batch_size=16", "eval.batch_size=16",
        "engine.log_every=1", "engine.progress=none", "engine.precision=fp32", "engine.channels_last=false",
    ]  # fmt: skip
    hub_env = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_TOKEN": "hf_resreg_test"}
    with HubServer() as hub:
        hub_env["HF_ENDPOINT"] = hub.url
        trained, plotted, pushed, pulled = resreg_many(
            site,
            ["train", "quickstart", *short, "--run-dir", str(run_dir)],
            ["plot", str(run_dir)],  # the curves the push puts on the model card
            ["push", str(run_dir), "me/se20"],
            ["pull", "me/se20"],  # with the plugin: the model rebuilds
            HF_HOME=str(tmp_path / "with"),
            **hub_env,
        )
        (listed, blocks, _), absent = resreg_many(
            None, ["list", "blocks"], ["pull", "me/se20"], HF_HOME=str(tmp_path / "without"), **hub_env
        )
        files = hub.repos["me/se20"].commits[pushed[1].strip()]
    assert trained[0] == 0, trained[2][-2000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 3 and any("train_error" in r for r in rows)
    assert plotted[0] == 0 and (run_dir / "curves.png").is_file(), plotted

    assert pushed[0] == 0, pushed[2]
    record = yaml.safe_load(files["resreg.yaml"])
    assert record["plugins"]["resreg-se"] == "0.1.0"
    se_block = {"kind": "block", "name": "inverted_residual", "distribution": "resreg-se", "version": "0.1.0"}
    assert se_block in record["components"] and "curves.png" in files
    assert pulled[:2] == (0, pushed[1]), pulled

    assert listed == 0 and "inverted_residual" not in blocks  # without the install the plugin is really absent
    status, _, error = absent
    assert status == 2 and error.count("\n") == 1, error
    assert error.startswith("resreg pull: error: hf-hub:me/se20@")
    assert "block 'inverted_residual' is not provided by any installed plugin" in error
    assert error.rstrip().endswith("pip install resreg-se")
