"""The kinds of component the registry holds by default, each with what it holds (plugins may add kinds)."""

from __future__ import annotations

#: kind -> what it holds. Plugins may add kinds with `Registrar.add_kind`.
DEFAULT_KINDS: dict[str, str] = {
    "stem": "the first layers of a network, before the stages",
    "block": "a residual (or plain) block: one unit of a stage",
    "shortcut": "the identity path of a residual block",
    "head": "what follows the last stage: classifier or features",
    "attn": "attention on a block's residual branch (channels -> module), e.g. squeeze-and-excitation",
    "builder": "a model family builder: turns a spec into a torch.nn.Module",
    "model": "a named model preset: a declarative spec for a builder",
    "recipe": "a training recipe: optimiser, schedule, augmentation and defaults of a paper",
    "dataset": "a data source",
    "combiner": "how an ensemble combines its members' outputs",
    "converter": "a weight converter: renames or reshapes foreign state-dict keys",
}
