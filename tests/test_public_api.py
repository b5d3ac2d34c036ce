"""The declared public API: resreg.__all__, resreg.PUBLIC_MODULES, the documented pages and hook types."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import resreg
import resreg.hookspecs
from resreg.run_info import RunInfo

API_PAGE = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()


def test_every_name_of_all_resolves():
    for name in resreg.__all__:
        assert getattr(resreg, name) is not None, name


def test_every_public_module_imports_and_is_documented():
    for module in resreg.PUBLIC_MODULES:
        importlib.import_module(module)
        if module != "resreg":
            assert f"::: {module}" in API_PAGE, f"{module} is public but docs/api.md does not document it"


def test_training_hooks_are_typed_with_run_info_which_the_engines_run_satisfies():
    from resreg.engine.loop import Run

    names = [name for name in vars(resreg.hookspecs) if name.startswith("resreg_") and name != "resreg_register"]
    hooks = [getattr(resreg.hookspecs, name) for name in names]
    assert hooks
    for hook in hooks:
        assert inspect.signature(hook).parameters["run"].annotation == "RunInfo", hook.__name__
    fields = {f.name for f in dataclasses.fields(Run)}
    assert set(RunInfo.__annotations__) <= fields


def test_the_build_path_runs_on_arguments_not_ambient_state():
    # Whether a spec is trusted travels in a BuildContext argument: a context variable would be lost by
    # a builder that builds in another thread, and a security property must not depend on that.
    import resreg.models

    sources = Path(resreg.__file__).parent.rglob("*.py")
    assert not [p for p in sources if "ContextVar" in p.read_text() or "contextvars" in p.read_text()]
    assert not hasattr(resreg.models, "untrusted_origin")
    assert resreg.BuildContext is resreg.models.BuildContext
