"""A model read from a file is sized on the meta device before it is built (resreg.build): a plugin
component first imported then must still get real tensors for what its module makes at import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch

import resreg
from resreg.plugins import Plugins
from resreg.weights import save_model

# A combiner whose module makes a tensor at import, as plugins do for constants and default buffers.
COMBINER_MODULE = '''
import torch

SHIFT = torch.full((1,), 0.5)  # made when the module is imported


def shifted_mean():
    """The members' mean logits, shifted."""
    return lambda logits: torch.stack(logits).mean(0) + SHIFT
'''
MEMBER = {"type": "resnet", "block": "basic", "stem": "cifar", "depths": [1, 1, 1], "widths": [4, 8, 8],
          "num_classes": 3}  # fmt: skip


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The installed plugins, plus a combiner registered by import path (imported at its first use)."""
    (tmp_path / "meta_shift_plugin.py").write_text(COMBINER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "meta_shift_plugin", raising=False)
    plugins = Plugins()
    plugins.load_entry_points()
    plugins.registry.register("combiner", "shifted_mean", "meta_shift_plugin:shifted_mean")
    return plugins.registry


def test_a_plugin_first_imported_while_a_saved_model_is_sized_keeps_real_tensors(registry, tmp_path) -> None:
    path = save_model(resreg.create_model({"type": "ensemble", "members": [MEMBER]}, registry=registry),
                      tmp_path / "ensemble.safetensors")  # fmt: skip
    # The file's spec names the plugin's combiner, which nothing has imported yet.
    with safetensors.safe_open(str(path), "pt") as file:
        metadata = file.metadata()
    spec = json.loads(metadata["resreg_spec"])
    spec["combiner"] = "shifted_mean"
    safetensors.torch.save_file(safetensors.torch.load_file(path), path, {**metadata, "resreg_spec": json.dumps(spec)})
    assert "meta_shift_plugin" not in sys.modules

    model = resreg.load_model(path, registry=registry).eval()
    assert not sys.modules["meta_shift_plugin"].SHIFT.is_meta  # imported before the meta-device sizing
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.members[0](x) + 0.5)
