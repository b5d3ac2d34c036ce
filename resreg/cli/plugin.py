"""Start a plugin: `resreg plugin new NAME` writes a ready package (entry point, a block, tests).

The package, `resreg-NAME`, has a pyproject.toml with the `resreg` entry point, one block written on
resreg's block template (`resreg.blocks.ResidualBlock`), and tests that run resreg's generic checks
(`resreg.testing`) over everything the plugin registers. It installs and passes its tests as written:

    resreg plugin new mynet --dir ~/src
    pip install -e ~/src/resreg-mynet && pytest ~/src/resreg-mynet/tests
"""

from __future__ import annotations

import argparse
import re
from importlib.metadata import entry_points
from pathlib import Path

from resreg import __version__
from resreg.errors import ResregError
from resreg.plugins import ENTRY_POINT_GROUP

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "resreg-{dist}"
version = "0.1.0"
description = "A resreg plugin: the {name}_block block."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["resreg>={version}", "torch>=2.6"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The plugin name (left) is what `resreg plugins` shows and RESREG_DISABLE_PLUGINS={name} turns off;
# the value is the module whose `resreg_register` hook fills the registry.
[project.entry-points.resreg]
{name} = "resreg_{name}"

[tool.setuptools]
packages = ["resreg_{name}"]
"""

README = """\
# resreg-{dist}

A [resreg](https://github.com/resreg/resreg) plugin, started with `resreg plugin new {name}`.

```bash
pip install -e .          # resreg finds it through the `resreg` entry point
resreg list blocks        # {name}_block  {name} (resreg-{dist})
resreg train quickstart model.block={name}_block
pytest tests              # resreg's generic checks over everything the plugin registers
```

Add components in `resreg_{name}/` and register them in `resreg_{name}/__init__.py`; the tests cover
each new one without new test code.
"""

INIT = '''\
"""resreg-{dist}: a resreg plugin. `resreg_register` fills the registry when resreg loads the plugin."""

from __future__ import annotations

import resreg
from resreg.registry import Registrar

__version__ = "0.1.0"


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    # By import path: the module (and torch) is imported only when the block is built or inspected.
    registry.register("block", "{name}_block", f"{{__name__}}.blocks:Block")
'''

BLOCKS = '''\
"""The plugin's block, written on resreg's template: the template owns the shortcut, stochastic depth,
the residual add, the attention slot (`attn`) and `zero_init_last`; the block writes its branch."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from resreg.blocks import ResidualBlock


class Block(ResidualBlock):
    """A 3x3 convolution then a kxk one, each with batch norm (a starting point: change the branch).

    Args:
        kernel_size: size of the second convolution (odd).
    """

    expansion = 1  # output channels are planes * expansion
    zero_init = "bn2"  # the norm `zero_init_last` zeroes
    builder_init = True  # He init of the convolutions, as resreg's blocks get (False: keep what __init__ sets)

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, kernel_size: int = 3,
                 **kwargs: Any) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
'''

TESTS = '''\
"""resreg's generic checks (resreg.testing) over every component this plugin registers, plus its own."""

from __future__ import annotations

import pytest
import torch

import resreg
from resreg.testing import plugin_checks


@pytest.mark.parametrize("check", plugin_checks("{name}"), ids=str)
def test_resreg_checks(check):
    check()


def test_kernel_size_from_a_spec():
    model = resreg.create_model("resnet20", block={{"type": "{name}_block", "kernel_size": 5}})
    assert model.layer1[0].conv2.kernel_size == (5, 5)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
'''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="write a new plugin package, resreg-NAME", description=__doc__)
    new.add_argument("name", help="the plugin's name: lower case letters, digits and _ (e.g. mynet)")
    new.add_argument("--dir", default=".", help="where to create the package folder (default: here)")


def run(args: argparse.Namespace) -> int:
    folder = write_plugin(args.name, Path(args.dir))
    print(f"wrote {folder}: pip install -e {folder} && pytest {folder / 'tests'}")
    return 0


def write_plugin(name: str, parent: Path) -> Path:
    """Write the package `resreg-<name>` under `parent`; return its folder."""
    if not _NAME.match(name):
        raise ResregError(f"plugin name {name!r}: use lower case letters, digits and _, starting with a letter")
    # Installed, a second plugin of one name is refused (the built-in, or the first, keeps it): say so now.
    taken = {ep.name: ep.dist.name if ep.dist else "?" for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name in taken:
        raise ResregError(
            f"plugin name {name!r} is taken by the installed distribution {taken[name]!r}, which would keep it "
            "(`resreg plugins` lists the plugin names in use); choose another name"
        )
    folder = parent / f"resreg-{name.replace('_', '-')}"
    if folder.exists():
        raise ResregError(f"{folder} already exists; choose another name or --dir")
    values = {"name": name, "dist": name.replace("_", "-"), "version": __version__}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"resreg_{name}/__init__.py": INIT,
        f"resreg_{name}/blocks.py": BLOCKS,
        f"tests/test_{name}.py": TESTS,
    }
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return folder
