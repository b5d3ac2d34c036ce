"""Built-in plugin: the highway block (Srivastava et al. 2015, "Training Very Deep Networks").

A residual block adds its transform to the shortcut; a highway block mixes them with a learned gate,

    y = T(x) * F(x) + (1 - T(x)) * shortcut(x),    T(x) = sigmoid(Conv1x1(x) + b),

with F two 3x3 conv-BN-ReLU as in the basic block, and b initialised negative so that every block starts
out mostly carrying its input (the paper's -1 to -3). He et al. 2015 cite highway networks as the gated
alternative to identity shortcuts; with `block: highway` in a ResNet spec the three (plain, residual,
highway) compare from configs alone.
"""

from __future__ import annotations

import resreg
from resreg.registry import Registrar


@resreg.hookimpl
def resreg_register(registry: Registrar) -> None:
    # By import path (the block lives beside the ResNet blocks): registering does not import torch.
    registry.register("block", "highway", f"{__package__}.resnet.highway:HighwayBlock")
