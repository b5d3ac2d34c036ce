"""Registry behaviour that mutation testing found unpinned (docs/testing.md, "Mutation testing"):
a lazy component's help read from the source of a module inside a package, or of one already
imported; the zero_init contract's method form and its message; a replaced built-in given back."""

from __future__ import annotations

import importlib
import sys
import types
import uuid

import pytest

from resreg.errors import ConfigError, RegistryError
from resreg.registry import Provider, Registry
from resreg.schema import ref

DOC = '"""First line.\n\n    More after a blank line.\n    """'


def _fresh_name(monkeypatch) -> str:
    name = f"regmut_{uuid.uuid4().hex}"
    monkeypatch.delitem(sys.modules, name, raising=False)  # removes what the test imports at teardown
    return name


def test_help_of_a_lazy_component_in_a_package_is_read_without_importing_the_package(tmp_path, monkeypatch):
    package = _fresh_name(monkeypatch)
    (tmp_path / package).mkdir()
    # importing the package fails: any help that needed an import would come out "" (a broken entry)
    (tmp_path / package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (tmp_path / package / "blocks.py").write_text(f"class Lazy:\n    {DOC}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.register("block", "lazy", f"{package}.blocks:Lazy")
    registry.register("block", "nowhere", f"{package}.missing:Lazy")
    registry.register("block", "below_a_module", f"{package}.blocks.deeper:Lazy")
    assert registry.get("block", "lazy").help == "First line."
    assert package not in sys.modules
    assert registry.get("block", "nowhere").help == ""  # not found, so imported: the import fails
    assert registry.get("block", "below_a_module").help == ""


def test_help_of_a_component_whose_module_is_already_imported(tmp_path, monkeypatch):
    module = _fresh_name(monkeypatch)
    (tmp_path / f"{module}.py").write_text(f"class Documented:\n    {DOC}\n\n\nclass Undocumented:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module(module)
    registry = Registry()
    registry.register("block", "documented", f"{module}:Documented")
    registry.register("block", "undocumented", f"{module}:Undocumented")
    assert registry.get("block", "documented").help == "First line."
    assert registry.get("block", "undocumented").help == ""


def test_help_of_a_component_in_a_module_without_a_source_file(monkeypatch):
    module = _fresh_name(monkeypatch)
    made = types.ModuleType(module)
    exec(f"class Made:\n    {DOC}\n", made.__dict__)
    monkeypatch.setitem(sys.modules, module, made)
    registry = Registry()
    registry.register("block", "made", f"{module}:Made")
    assert registry.get("block", "made").help == "First line."  # from the imported class


class _Toy:
    """A block.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        zero_init_last: zero the last layer.
    """

    def __init__(self, in_chs: int, out_chs: int, *, zero_init_last: bool = False): ...


def test_zero_init_last_is_kept_by_a_zero_init_method_and_a_wrong_path_is_quoted():
    class ZeroesItself(_Toy):
        def zero_init_(self) -> None: ...

    class NamesANumber(_Toy):
        zero_init = 5

    registry = Registry()
    registry.register("block", "itself", ZeroesItself)
    assert registry.get("block", "itself").obj is ZeroesItself
    with pytest.raises(RegistryError, match=r"names nothing to zero \(got 5\): set the class attribute"):
        registry.register("block", "number", NamesANumber)


def test_removing_a_plugin_gives_a_replaced_builtin_its_name_back():
    class Basic(_Toy):
        zero_init = "bn"

    class Other(Basic):
        """Another block."""

    registry = Registry()
    registry.register("block", "basic", Basic, provider=Provider("resnet", "resreg", builtin=True))
    registry.register("block", "basic", Other, provider=Provider("fast", "resreg-fast"), replace=True)
    assert registry.get("block", "basic").obj is Other
    registry.remove_plugin("fast")
    assert registry.get("block", "basic").obj is Basic


class _Attn:
    """An attention.

    Args:
        channels: channels.
        gain: a gain.
        other: another.
    """

    def __init__(self, channels: int, *, gain: float = 1.0, other: float = 2.0): ...


class _Block:
    """A block taking an attention.

    Args:
        width: a width.
        depth: a depth.
        attn: its attention.
    """

    def __init__(self, *, width: int, depth: int, attn: ref("attn") = None): ...


@pytest.mark.parametrize("where", ["model.block", ""])
def test_a_wrong_argument_is_named_by_its_full_path_with_every_valid_one(where):
    registry = Registry()
    registry.register("attn", "se", _Attn)
    registry.register("block", "blk", _Block)
    at = f"{where}." if where else ""
    block = {"type": "blk", "width": 1, "depth": 2}
    for typo, near in (("gian", "gain"), ("othr", "other")):  # each known argument is checked, not only the first
        with pytest.raises(ConfigError) as error:
            registry.build("block", {**block, "attn": {"type": "se", typo: 2}}, where=where)
        assert str(error.value) == (
            f"{at}attn.{typo}: unknown argument {typo!r} of attn 'se' (did you mean {near!r}? valid: gain, other)"
        )
    with pytest.raises(ConfigError) as error:
        registry.build("block", {"type": "blk"}, where=where)
    assert str(error.value) == f"{where}: block 'blk' needs width, depth".removeprefix(": ")
    with pytest.raises(ConfigError) as error:
        registry.check_args(_Attn, [1], where="x.y", what="argument")
    assert str(error.value) == "x.y: arguments are a mapping, got [1]"
