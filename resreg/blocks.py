"""Residual blocks for plugin authors: a template that owns everything but the residual branch.

    from torch import nn
    from resreg.blocks import ResidualBlock

    class WideBasic(ResidualBlock):
        \"\"\"Two 3x3 convolutions, twice as wide inside.\"\"\"

        zero_init = "bn2"  # what `zero_init_last` zeroes

        def __init__(self, in_chs, planes, stride=1, *args, **kwargs):
            super().__init__(in_chs, planes, stride, *args, **kwargs)
            self.conv1 = nn.Conv2d(in_chs, 2 * planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(2 * planes)
            self.conv2 = nn.Conv2d(2 * planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)

        def branch(self, x):
            return self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))

The template gives every block the block contract the builders call it with,
`Block(in_chs, planes, stride, shortcut, drop_path_rate, *, <spec arguments>)` with output channels
`planes * expansion`, and owns: the shortcut (`downsample`, built by the builder: None is the identity,
a module a projection, False no shortcut at all), an attention slot (`attn`, any registered `attn`
component, applied to the branch output as timm's `se` module is), stochastic depth (timm's DropPath),
the residual add (in place, as timm), the activation after it, and `zero_init_last`. A subclass that
forwards `**kwargs` keeps `attn` and `zero_init_last` in its schema (`resreg list blocks -v`).

The template's modules are moved behind the subclass's after `__init__`, so state-dict keys come in
timm's and torchvision's order (`conv1`, `bn1`, ..., `se`, `downsample`) and their weights load as
they are.

Weights: a builder calls `init_weights(model)`, which He-initialises the modules of resreg's own
components only. A plugin's block (or attention, stem, head, shortcut) keeps what its `__init__` set,
unless its class sets `builder_init = True` (the builder's init, as the built-ins get) or defines
`init_weights()` (called instead). Then `zero_init_last` zeroes what the block's `zero_init` names
(a dotted path to a parameter or a module with a weight), or calls its `zero_init_()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from timm.layers import DropPath
from torch import nn

from resreg.errors import RegistryError
from resreg.registry import origin_of
from resreg.schema import ref

__all__ = ["BasicBlock", "Bottleneck", "PreActResidualBlock", "ResidualBlock", "init_weights"]

#: what the template adds to a block, in the order it follows the block's own modules
_TEMPLATE_MODULES = ("se", "act_out", "downsample", "drop_path")


class _TemplateLast(type):
    """After a block's `__init__` (the subclass's included), move the template's modules to the end."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        block = super().__call__(*args, **kwargs)
        for name in _TEMPLATE_MODULES:
            if name in block._modules:
                block._modules[name] = block._modules.pop(name)
        return block


class ResidualBlock(nn.Module, metaclass=_TemplateLast):
    """The residual-block template: `act(shortcut(x) + drop_path(attn(branch(x))))`; subclasses write `branch`.

    Args:
        attn: attention on the residual branch's output, e.g. se (squeeze-and-excitation); null: none.
        zero_init_last: start the block's last norm at zero, so it begins as the identity (Goyal et al. 2017).
    """

    #: output channels are planes * expansion
    expansion: ClassVar[int] = 1
    #: what `zero_init_last` zeroes, by dotted path: a parameter (`"gamma"`) or a module's weight (`"bn2"`,
    #: `"mlp.fc2"`); a block that needs more defines `zero_init_()` instead. The branch must then output zeros.
    zero_init: ClassVar[str | None] = None
    #: let the builder He-initialise this block's convolutions and norms, as it does the built-in blocks';
    #: False (a plugin block's default): the block keeps the weights its own `__init__` gave it
    builder_init: ClassVar[bool] = False
    #: post-activation (a ReLU after the addition, the ResNet paper) or not (pre-activation blocks)
    act_after_add: ClassVar[bool] = True

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        shortcut: nn.Module | bool | None = None,
        drop_path_rate: float = 0.0,
        *,
        attn: ref("attn") = None,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        self.in_chs, self.planes, self.stride, self.out_chs = in_chs, planes, stride, planes * self.expansion
        if attn is not None and not callable(attn):
            raise TypeError(
                f"attn={attn!r}: a block gets its attention as a factory (channels -> module); "
                "build the block through the registry to use a spec"
            )
        self.se = attn(self.out_chs) if attn is not None else None  # timm's name for any attention module
        self.act_out = nn.ReLU(inplace=True) if self.act_after_add else None
        self.residual = shortcut is not False
        self.downsample = shortcut if isinstance(shortcut, nn.Module) else None
        # No Identity module for a disabled drop path: one call less per block, as timm.
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else None
        self.zero_init_last = zero_init_last

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch F(x) (before attention and the addition); a fresh tensor."""
        raise NotImplementedError(f"{type(self).__name__} must define branch(x)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.add_shortcut(x, self.attend(self.branch(x)))
        return out if self.act_out is None else self.act_out(out)

    def attend(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.se is None else self.se(out)

    def add_shortcut(self, x: torch.Tensor, out: torch.Tensor, projected: torch.Tensor | None = None) -> torch.Tensor:
        """`shortcut(x) + drop_path(out)`; a projection reads `projected` when given (pre-activation blocks
        project the pre-activated input). Without a shortcut (plain nets) `out` is returned unchanged."""
        if not self.residual:
            return out
        identity = x if self.downsample is None else self.downsample(x if projected is None else projected)
        if self.drop_path is not None:
            out = self.drop_path(out)
        out += identity  # in place, as timm: one allocation less per block (`out` is a fresh branch output)
        return out

    def apply_zero_init_last(self) -> None:
        """Called by `init_weights` after the weights are set: if `zero_init_last`, start the residual branch
        at zero, so the block begins as the identity (its `zero_init_()`, or the weight `zero_init` names)."""
        if not self.zero_init_last:
            return
        zero_init_ = getattr(self, "zero_init_", None)
        if zero_init_ is not None:
            zero_init_()
            return
        path = self.zero_init
        try:
            try:
                weight = self.get_parameter(path)
            except AttributeError:  # not a parameter: a module, whose weight is meant
                weight = self.get_submodule(path).weight
        except (AttributeError, TypeError):
            raise RegistryError(
                f"{type(self).__name__}.zero_init = {path!r} names no parameter or module with a weight in the "
                "block; it is the dotted path of what zero_init_last zeroes (or define zero_init_())"
            ) from None
        nn.init.zeros_(weight)


def init_weights(model: nn.Module) -> None:
    """He initialisation (He et al. 2015, "Delving deep into rectifiers": normal, fan-out) of every conv and
    BN to the identity, as torchvision, for the modules of resreg's own components and of those that opt in
    (`builder_init = True`); a plugin component with an `init_weights()` method has it called instead, and
    any other keeps the weights its `__init__` set. Then every block applies its `zero_init_last`.

    What a component is comes from the mark the registry puts on what it builds (`resreg.registry.origin_of`);
    modules the builder made itself (the network, its stages, a final norm) are the builder's own.
    """
    own_init = []
    for module, by_builder in _with_owner(model, by_builder=True, seen=set()):
        if module is not model and _initialises_itself(module):
            own_init.append(module)
        if not by_builder:
            continue
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in own_init:
        module.init_weights()
    for module in model.modules():
        if isinstance(module, ResidualBlock):
            module.apply_zero_init_last()


def _with_owner(module: nn.Module, by_builder: bool, seen: set[int]) -> Iterator[tuple[nn.Module, bool]]:
    """Every module in `model.modules()` order, with whether the builder initialises it: a marked component
    decides for its modules (resreg's own or opted in: yes), others follow the component they are part of."""
    if id(module) in seen:
        return
    seen.add(id(module))
    origin = origin_of(module)
    if origin is not None:
        builtin = origin.provider.builtin
        by_builder = (builtin or getattr(module, "builder_init", False)) and not _initialises_itself(module)
    yield module, by_builder
    for child in module.children():
        yield from _with_owner(child, by_builder, seen)


def _initialises_itself(module: nn.Module) -> bool:
    """A plugin component with its own `init_weights()`, which the builder calls instead of its init."""
    origin = origin_of(module)
    return origin is not None and not origin.provider.builtin and callable(getattr(module, "init_weights", None))


class PreActResidualBlock(ResidualBlock):
    """The pre-activation template (He et al. 2016): BN-ReLU first (`norm1`, `act`), nothing after the addition.

    `branch` receives the pre-activated input; a projection shortcut reads it too, as in the paper's code.
    Nets built from these blocks end with a final BN + ReLU (the builder adds it when `preact` is set).
    """

    act_after_add = False
    preact: ClassVar[bool] = True

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.act(self.norm1(x))
        return self.add_shortcut(x, self.attend(self.branch(preact)), projected=preact)


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions (ResNet-18/34 and the CIFAR nets)."""

    expansion = 1
    zero_init = "bn2"

    def __init__(self, in_chs: int, planes: int, stride: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))


class Bottleneck(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152), with ResNeXt grouping.

    Args:
        groups: groups of the 3x3 convolution (ResNeXt cardinality; 1 = ResNet).
        base_width: ResNeXt width per group at the first stage (64 = ResNet).
        stride_on: where the stride goes: "3x3" (torchvision/timm, "ResNet v1.5") or "1x1" (the paper).
    """

    expansion = 4
    zero_init = "bn3"

    def __init__(
        self,
        in_chs: int,
        planes: int,
        stride: int = 1,
        *args: Any,
        groups: int = 1,
        base_width: int = 64,
        stride_on: Literal["3x3", "1x1"] = "3x3",
        **kwargs: Any,
    ) -> None:
        super().__init__(in_chs, planes, stride, *args, **kwargs)
        width = int(planes * (base_width / 64.0)) * groups
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1 = nn.Conv2d(in_chs, width, 1, stride=stride_1x1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride_3x3, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width, self.out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.out_chs)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))
