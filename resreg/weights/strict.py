"""Strict state-dict loading with an error that says exactly what does not fit.

torch's own `load_state_dict(strict=True)` error lists every key over many lines and stops before
checking shapes; people need one line: how many keys are missing, unexpected or of the wrong shape,
and the first few of each.

The values are checked too, because torch copies whatever it is given: NaN or inf weights load and
every prediction is `nan`, and integer or bool tensors are cast into float parameters (int64 noise
becomes zeros or garbage) without a word. A float tensor of another precision (fp16, bf16) is what
published weights often are, and is converted as torch converts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from resreg.errors import WeightsError

if TYPE_CHECKING:
    import torch

#: how many keys of each problem an error message names
SHOWN = 3


def load_state_dict_strict(
    model: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    where: str = "weights",
    skip: Iterable[str] = (),
) -> None:
    """Load `state_dict` into `model`; every key must be present on both sides with the same shape.

    Args:
        model: the module to fill.
        state_dict: the tensors to load (already converted to the model's key names).
        where: the source named in error messages (a path or a repo id).
        skip: key prefixes to leave out on both sides (e.g. the classifier when `num_classes` differs).
    """
    skip = tuple(skip)
    target = {k: v for k, v in model.state_dict().items() if not _under(k, skip)}
    given = {k: v for k, v in state_dict.items() if not _under(k, skip)}
    # BatchNorm's step counter is not a weight, and checkpoints older than it (torchvision's legacy
    # DenseNets) lack it: torch keeps the model's own counter then, and so does this check.
    missing = [k for k in target if k not in given and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in given if k not in target]
    mismatched = [
        f"{k} {tuple(given[k].shape)} vs model {tuple(target[k].shape)}"
        for k in target
        if k in given and given[k].shape != target[k].shape
    ]
    problems = [
        _describe(name, keys)
        for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
        if keys
    ]
    if problems:
        prefix = _shared_prefix_that_fits(list(given), target)
        if prefix:
            raise WeightsError(
                f"{where}: weights do not fit the model: every key starts with {prefix!r} (saved from a wrapper "
                f"module?), and without it they fit exactly; strip it with pretrained_strip_prefix: {prefix!r} "
                f"(Python: strip_prefix={prefix!r})"
            )
        raise WeightsError(f"{where}: weights do not fit the model: {'; '.join(problems)}")
    _check_values(given, target, where)
    result = model.load_state_dict(dict(given), strict=False)
    # Only skipped keys and step counters may be absent here: anything else is a bug in the checks above.
    assert not result.unexpected_keys, result
    assert all(_under(k, skip) or k.endswith(".num_batches_tracked") for k in result.missing_keys), result


def _check_values(given: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], where: str) -> None:
    """Refuse, naming the first tensor, a dtype that cannot hold the model's values, or non-finite values.

    The model's own dtype decides what fits: a float parameter or buffer takes a float tensor of any
    precision; an integer buffer (BatchNorm's `num_batches_tracked` step counter) takes an integer one.
    """
    import torch

    for key, value in given.items():
        wanted = target[key]
        if _kind(value) != _kind(wanted):
            got, kept = str(value.dtype).removeprefix("torch."), str(wanted.dtype).removeprefix("torch.")
            raise WeightsError(f"{where}: {key} holds {got} values where the model keeps {kept}; refused as weights")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(
                f"{where}: {key} holds non-finite values (NaN or infinity); every output of the model "
                "would be NaN, so these weights are refused"
            )


def _kind(tensor: torch.Tensor) -> str:
    """float, complex, bool or integer: the dtypes within one kind convert into each other without surprise."""
    if tensor.is_floating_point():
        return "float"
    if tensor.is_complex():
        return "complex"
    return "bool" if str(tensor.dtype) == "torch.bool" else "integer"


def _shared_prefix_that_fits(keys: list[str], target: Mapping[str, torch.Tensor]) -> str | None:
    """The dotted prefix all `keys` share (`model.`, `model.backbone.`) whose removal makes them the model's keys."""
    if not keys:
        return None
    parts = keys[0].split(".")[:-1]
    for n in range(1, len(parts) + 1):
        prefix = ".".join(parts[:n]) + "."
        if not all(k.startswith(prefix) for k in keys):
            return None
        stripped = {k[len(prefix) :] for k in keys}
        wanted = {k for k in target if not k.endswith(".num_batches_tracked")}
        if wanted <= stripped <= set(target):
            return prefix
    return None


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _describe(what: str, keys: list[str]) -> str:
    more = f", ... ({len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return f"{len(keys)} {what} ({', '.join(keys[:SHOWN])}{more})"
