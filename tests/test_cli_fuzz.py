"""Property-based fuzz: malformed configs and overrides always give exit 2 and one line, never a traceback."""

from __future__ import annotations

import string

import pytest
import yaml
from conftest import run_process
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resreg.cli.main import main


def _unparsable(text: str) -> bool:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    return False


yaml_noise = st.text(alphabet=string.printable + "äß€", max_size=80)
broken_yaml = st.one_of(
    yaml_noise.map(lambda t: "model: [" + t),  # an unclosed flow sequence
    yaml_noise.map(lambda t: "{" + t.replace("}", "")),  # an unclosed flow mapping
    yaml_noise.map(lambda t: "a: b\n c: d\n" + t),
    yaml_noise.filter(_unparsable),
)
not_a_mapping = st.one_of(
    st.lists(st.integers(), min_size=1), st.integers(), st.text(min_size=1, alphabet=string.ascii_letters)
).map(lambda v: yaml.safe_dump(v))
unknown_section = (
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12)
    .filter(
        lambda s: (
            s
            not in (
                "name",
                "model",
                "data",
                "train",
                "engine",
                "eval",
                "base",
                "true",
                "false",
                "null",
                "yes",
                "no",
                "on",
                "off",
                "y",
                "n",
            )
        )
    )
    .map(lambda s: f"{s}: 1\n")
)
bad_config = st.one_of(broken_yaml, not_a_mapping, unknown_section)

bad_override = st.one_of(
    st.text(alphabet=string.ascii_letters + "._-", min_size=1, max_size=20),  # no '='
    st.text(alphabet=string.ascii_letters + " .-[]{}", max_size=10).map(lambda k: f"..{k}=1"),  # empty key part
    st.text(alphabet=string.printable, max_size=20).map(lambda v: "train.lr=[" + v.replace("]", "")),  # bad YAML
    st.sampled_from(
        [
            "model.block=botleneck",
            "model.depths=[1,x]",
            "model=3",
            "engine.precision=fp8",
            "model.type=resnt",
            "data={type: nope}",
            "model._target_=os.system",
        ]
    ),
)


def _run_in_process(capsys, args: list[str]) -> tuple[int, str]:
    capsys.readouterr()  # hypothesis reuses the fixture across examples: start from empty output
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own usage errors (e.g. an override that looks like a flag)
        code = exit_.code
    return code, capsys.readouterr().err


def _assert_one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line and not line.startswith("resreg: warning:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(("resreg show: error: ", "resreg: error: ")), lines
    assert "Traceback" not in err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=bad_config)
def test_malformed_config_files_in_process(tmp_path, capsys, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    _assert_one_line_error(*_run_in_process(capsys, ["show", str(path)]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(override=bad_override)
def test_malformed_overrides_in_process(tmp_path, capsys, override):
    path = tmp_path / "ok.yaml"
    path.write_text("model: resnet20\n")
    _assert_one_line_error(*_run_in_process(capsys, ["show", str(path), override]))


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=bad_config, override=bad_override)
def test_malformed_input_through_the_real_cli(tmp_path, text, override):
    """The same properties through the installed command in a fresh process (argv, stderr, exit status).

    A few examples: the breadth is the in-process tests' (300 examples); this checks that the process
    reports them the same way, and each example costs two interpreter starts with a torch import."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    for args in ([str(path)], [str(tmp_path / "ok.yaml"), override]):
        (tmp_path / "ok.yaml").write_text("model: resnet20\n")
        result = run_process("show", *args)  # tests/conftest.py: RESREG_DEBUG unset, a hang guard only
        _assert_one_line_error(result.returncode, result.stderr)
