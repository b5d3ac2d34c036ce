"""Fitting weights trained for another input or output size: `in_chans` and `num_classes`.

The model says where its first conv and its classifier are (`model.pretrained_cfg["first_conv"]`,
`["classifier"]`, as in timm). A different input channel count is adapted as timm adapts it (one
channel: the RGB filters summed; more: repeated and rescaled), always, since that is what asking for
`in_chans` means. A different class count drops the classifier only when the caller asked for it
(`skip_classifier=True`), because silently training a fresh head on a fine-tuning run that meant to
reuse one is a costly surprise; a model without a classifier (`num_classes=0`, `features_only`)
never wants those weights, so they are dropped without asking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resreg.errors import WeightsError

if TYPE_CHECKING:
    import torch


def adapt_state_dict(
    model: torch.nn.Module,
    state_dict: dict[str, torch.Tensor],
    *,
    skip_classifier: bool = False,
    where: str = "weights",
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Adapt the first conv to the model's input channels and decide about the classifier.

    Returns the adapted state dict and the key prefixes that strict loading must skip (the
    classifier, when it is not loaded).
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    target = model.state_dict()
    state_dict = dict(state_dict)
    first_conv = cfg.get("first_conv")
    if first_conv:
        key = f"{first_conv}.weight"
        if key in state_dict and key in target and state_dict[key].shape != target[key].shape:
            state_dict[key] = _adapt_input_conv(state_dict[key], target[key], where, key)
    skip: list[str] = []
    classifier = cfg.get("classifier")
    if classifier:
        key = f"{classifier}.weight"
        model_has_head = key in target
        if not model_has_head:
            skip.append(classifier)  # num_classes=0 or features_only: the head's weights have no place
        elif key in state_dict and state_dict[key].shape != target[key].shape:
            if not skip_classifier:
                raise WeightsError(
                    f"{where}: the weights have {state_dict[key].shape[0]} classes and the model "
                    f"{target[key].shape[0]} ({key}); to load everything but the classifier {classifier!r}, "
                    "pass skip_classifier=True (config: model.pretrained_skip_classifier: true)"
                )
            skip.append(classifier)
    return state_dict, skip


def _adapt_input_conv(weight: torch.Tensor, wanted: torch.Tensor, where: str, key: str) -> torch.Tensor:
    from timm.models._manipulate import adapt_input_conv

    same_but_inputs = weight.ndim == 4 and weight.shape[:1] + weight.shape[2:] == wanted.shape[:1] + wanted.shape[2:]
    if not same_but_inputs:
        raise WeightsError(
            f"{where}: {key} has shape {tuple(weight.shape)} and the model {tuple(wanted.shape)}; "
            "only the input channel count can be adapted"
        )
    return adapt_input_conv(wanted.shape[1], weight, base_chans=weight.shape[1])
