"""A test kit for plugin authors: resreg's generic checks, run over whatever a plugin registered.

In a plugin's tests (this is all `resreg plugin new` writes):

    import pytest
    from resreg.testing import plugin_checks

    @pytest.mark.parametrize("check", plugin_checks("myplugin"), ids=str)
    def test_resreg_checks(check):
        check()

`plugin_checks(name)` returns one `Check` per (component, check) of the plugin named `name` (its entry
point name): model presets build, run forward and backward with a gradient for every parameter, return
feature maps matching `feature_info` in features mode, and survive a save/load round trip through a
real safetensors file; blocks, attentions, stems, heads and shortcuts do the same inside a small ResNet;
every component imports and keeps its kind's contract (keyword-only spec arguments, an `Args:` section
that names only parameters, something for `zero_init_last` to zero), has a help line and a description
for every argument; `zero_init_last=True` makes a block's residual branch output exactly zero; and a
plugin's component keeps the weights its own `__init__` set unless it opts in to the builder's init.
resreg runs the same checks on its own plugins (tests/test_models.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resreg.errors import ResregError
from resreg.layout import MODEL_FILE
from resreg.models import create_model, load_model
from resreg.plugins import get_plugins
from resreg.registry import contract_problem
from resreg.weights import save_model

if TYPE_CHECKING:
    import torch

    from resreg.registry import Entry, Registry

__all__ = ["Check", "checks_for", "plugin_checks", "small_net_spec"]

#: a tiny CIFAR ResNet that any block, attention, stem, head or shortcut can be put into
SMALL_NET: dict[str, Any] = {"preset": "resnet20", "depths": [1, 1, 1], "shortcut": "B", "num_classes": 5}

#: what a builder passes a component of each kind by position, for building one alone (a 16-channel stage)
SAMPLE_ARGUMENTS: dict[str, tuple[Any, ...]] = {
    "block": (16, 16, 1, None, 0.0),
    "attn": (16,),
    "stem": (3,),
    "head": (16, 5),
    "shortcut": (16, 32, 2),
}


@dataclass(frozen=True)
class Check:
    """One generic check of one component; call it to run it (it raises AssertionError on failure)."""

    kind: str
    name: str
    what: str
    run: Callable[[], None]

    def __call__(self) -> None:
        self.run()

    def __str__(self) -> str:  # the pytest id: `model-seresnet50-forward_backward`
        return f"{self.kind}-{self.name}-{self.what}"


def plugin_checks(plugin: str, *, registry: Registry | None = None, skip: Iterable[str] = ()) -> list[Check]:
    """Every generic check of every component the plugin `plugin` (its entry point name) registered.

    Args:
        plugin: the plugin's name, as `resreg plugins` shows it.
        registry: the registry to read (default: the one every installed plugin filled).
        skip: component names to leave out (e.g. presets too big for a CPU test run).
    """
    if registry is None:
        plugins = get_plugins()
        info = next((i for i in plugins.infos if i.name == plugin), None)
        if info is None:
            known = ", ".join(i.name for i in plugins.infos)
            raise ResregError(f"no plugin named {plugin!r} is installed (installed: {known}); pip install it first")
        if info.status != "loaded":
            raise ResregError(f"plugin {plugin!r} is {info.status}: {info.error}")
        registry = plugins.registry
    entries = [e for e in registry.all_entries() if e.plugin == plugin and e.name not in set(skip)]
    return [check for entry in entries for check in checks_for(entry, registry)]


def checks_for(entry: Entry, registry: Registry) -> list[Check]:
    """The generic checks that apply to one registered component."""
    checks = [
        Check(entry.kind, entry.name, "contract", lambda: check_contract(entry)),
        Check(entry.kind, entry.name, "documented", lambda: check_documented(entry)),
    ]
    spec = None
    if entry.kind == "model":
        spec = entry.name
    elif entry.kind in ("block", "stem", "head", "shortcut"):
        spec = small_net_spec(**{entry.kind: entry.name})
    elif entry.kind == "attn":
        spec = small_net_spec(block={"type": "basic", "attn": entry.name})
    if spec is not None:
        checks += [
            Check(entry.kind, entry.name, "forward_backward", lambda: check_forward_backward(spec, registry)),
            Check(entry.kind, entry.name, "save_load", lambda: check_save_load(spec, registry)),
        ]
    if entry.kind == "model":
        checks.append(Check(entry.kind, entry.name, "features", lambda: check_features(spec, registry)))
    if entry.kind == "block":
        checks.append(Check(entry.kind, entry.name, "zero_init_last", lambda: check_zero_init_last(entry, registry)))
    if entry.kind in SAMPLE_ARGUMENTS and not entry.provider.builtin:
        checks.append(Check(entry.kind, entry.name, "own_init", lambda: check_own_init(entry, registry)))
    return checks


def small_net_spec(**components: Any) -> dict[str, Any]:
    """A tiny ResNet (one block per stage) with the given components: `small_net_spec(block="plain")`."""
    return {**SMALL_NET, **components}


def _input(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    """32x32 images: ImageNet nets reduce 32x, so their last map is 1x1 (BN still sees `batch` values)."""
    import torch

    return torch.randn(batch, model.pretrained_cfg["input_size"][0], 32, 32)


def check_contract(entry: Entry) -> None:
    """The component imports and keeps its kind's contract (what registering it by object checks at once)."""
    assert entry.error is None, f"{entry.kind} {entry.name!r} is broken: {entry.error}"
    problem = contract_problem(entry.kind, entry.obj) if entry.is_factory else None
    assert problem is None, f"{entry.kind} {entry.name!r}: {problem}"


def check_zero_init_last(entry: Entry, registry: Registry) -> None:
    """With `zero_init_last: true` every such block's residual branch outputs exactly zero at initialisation."""
    import torch

    if "zero_init_last" not in entry.params:
        return
    torch.manual_seed(0)
    model = create_model(small_net_spec(block={"type": entry.name, "zero_init_last": True}), registry=registry)
    blocks = [m for m in model.modules() if isinstance(m, entry.obj)]
    inputs: dict[int, torch.Tensor] = {}
    hooks = [b.register_forward_pre_hook(lambda m, args: inputs.__setitem__(id(m), args[0])) for b in blocks]
    with torch.no_grad():
        model.eval()(_input(model))
        for hook in hooks:
            hook.remove()
        for i, block in enumerate(blocks):
            branch = block.attend(block.branch(inputs[id(block)]))
            assert not branch.any(), (
                f"block {i} ({type(block).__name__}): zero_init_last leaves its residual branch non-zero "
                f"(max |F(x)| = {branch.abs().max().item():.3g}); `zero_init` must name the branch's last weight"
            )


def check_own_init(entry: Entry, registry: Registry) -> None:
    """A plugin's component keeps the weights its `__init__` set: the builder's `init_weights` leaves them alone,
    unless the class opts in (`builder_init = True`, or an `init_weights()` method the builder calls instead)."""
    import torch

    from resreg.blocks import init_weights  # imports torch: only when the check runs

    torch.manual_seed(0)
    component = registry.build(entry.kind, entry.name, *SAMPLE_ARGUMENTS[entry.kind])
    if not isinstance(component, torch.nn.Module) or getattr(component, "builder_init", False) or (
        callable(getattr(component, "init_weights", None))
    ):  # fmt: skip
        return
    before = {k: v.clone() for k, v in component.state_dict().items()}
    init_weights(component)
    changed = [k for k, v in component.state_dict().items() if not torch.equal(v, before[k])]
    assert not changed, f"the builder's weight init overwrote {changed[:5]}, which the component's __init__ set"


def check_documented(entry: Entry) -> None:
    """A help line for the component and a description for every argument (`resreg list -v` shows them)."""
    assert entry.help.strip(), f"{entry.kind} {entry.name!r} has no help line (the first line of its docstring)"
    undocumented = [name for name, param in entry.params.items() if not param.help.strip()]
    assert not undocumented, f"{entry.kind} {entry.name!r}: arguments without a description in Args: {undocumented}"


def check_forward_backward(spec: Any, registry: Registry) -> None:
    """Build, run forward and backward in training mode: finite outputs and a gradient for every parameter."""
    import torch

    torch.manual_seed(0)
    model = create_model(spec, num_classes=7, registry=registry).train()
    out = model(_input(model))
    assert out.shape == (2, 7), f"logits of shape {tuple(out.shape)}, expected (2, 7)"
    assert torch.isfinite(out).all(), "non-finite outputs"
    out.float().pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"


def check_features(spec: Any, registry: Registry) -> None:
    """Features mode returns one map per `feature_info` entry, with its channels and reduction."""
    import torch

    model = create_model(spec, features_only=True, registry=registry).eval()
    x = _input(model, batch=1)
    with torch.no_grad():
        features = model(x)
    info = list(model.feature_info)
    assert len(features) == len(info) >= 2, f"{len(features)} feature maps for {len(info)} feature_info entries"
    for feature, entry in zip(features, info, strict=True):
        assert feature.shape[1] == entry["num_chs"], f"{entry}: {feature.shape[1]} channels"
        assert x.shape[-1] // feature.shape[-1] == entry["reduction"], f"{entry}: reduction {x.shape[-1]}"


def check_save_load(spec: Any, registry: Registry) -> None:
    """Save to a real .safetensors file and load it back: the same spec, state dict and outputs."""
    import torch

    torch.manual_seed(0)
    model = create_model(spec, registry=registry).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = save_model(model, Path(folder) / MODEL_FILE)
        again = load_model(path, registry=registry).eval()
    assert again.resreg_spec == model.resreg_spec, "the loaded model has another spec"
    theirs = again.state_dict()
    assert list(theirs) == list(model.state_dict()), "the loaded model has other state-dict keys"
    x = _input(model)
    with torch.no_grad():
        assert torch.equal(model(x), again(x)), "the loaded model computes something else"
