"""How an ensemble turns its members' logits into one output (registry kind `combiner`).

A combiner factory takes its spec arguments (keyword-only) and returns a function
`combine(logits: list[Tensor [B, K]]) -> Tensor [B, K]`. Every output is a score whose argmax is
the prediction; the probability combiners return log-probabilities, so cross-entropy on them is
the loss of the combined distribution (log_softmax leaves normalised log-probabilities unchanged).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from resreg.errors import ConfigError

Combine = Callable[[list[torch.Tensor]], torch.Tensor]
_TINY = 1e-12  # keeps log() finite for classes that no member gives any probability


def mean_logits() -> Combine:
    """Average the members' logits."""
    return lambda logits: torch.stack(logits).mean(0)


def mean_probs() -> Combine:
    """Average the members' softmax probabilities (the ResNet paper's ensemble); returns their log."""
    return lambda logits: torch.stack([t.softmax(-1) for t in logits]).mean(0).clamp_min(_TINY).log()


def weighted(*, weights: list[float], over: str = "probs") -> Combine:
    """A weighted average of the members' probabilities (or logits).

    Args:
        weights: one non-negative weight per member; they are normalised to sum to 1.
        over: what to average: probs (returns the log of the average) or logits.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"combiner.weights: need non-negative weights with a positive sum, got {weights}")
    if over not in ("probs", "logits"):
        raise ConfigError(f"combiner.over: {over!r} is not one of 'probs', 'logits'")
    total = float(sum(weights))

    def combine(logits: list[torch.Tensor]) -> torch.Tensor:
        if len(logits) != len(weights):
            raise ConfigError(f"combiner.weights: {len(weights)} weights for {len(logits)} members")
        parts = [t.softmax(-1) if over == "probs" else t for t in logits]
        mixed = sum(w / total * p for w, p in zip(weights, parts, strict=True))
        return mixed.clamp_min(_TINY).log() if over == "probs" else mixed

    return combine


def majority_vote() -> Combine:
    """Each member votes for its top class; the share of votes wins, ties go to the higher mean probability.

    Returns the log of (vote share + a tie-break below one vote's worth), so argmax is the vote.
    """

    def combine(logits: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(logits)  # [M, B, K]
        members = stacked.shape[0]
        votes = torch.nn.functional.one_hot(stacked.argmax(-1), stacked.shape[-1]).sum(0).to(stacked.dtype)
        tie_break = stacked.softmax(-1).mean(0) / (2 * members)  # < half a vote: only decides ties
        score = votes / members + tie_break
        return (score / score.sum(-1, keepdim=True)).log()

    return combine


COMBINERS = {"mean_logits": mean_logits, "mean_probs": mean_probs, "weighted": weighted, "majority_vote": majority_vote}
