"""Which layers int8 quantization keeps in float32: pure selection logic, no torch.

Dynamic int8 quantization loses most of its accuracy in a few layers (those whose
inputs carry outlier channels), and which ones depends on the model. Rather than a
hard-coded list of layer names per model, the backend measures at load time, on
built-in calibration inputs, how far each quantized layer's output strays from its
float32 output, and how close the whole quantized model's output stays to the
float32 model's. This module decides from those measurements; the measuring lives
in ``backends/torchsetup.py``, so this logic is testable with fake scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Selection", "choose_float_layers", "float_layer_limit", "rank_by_error"]


@dataclass(frozen=True)
class Selection:
    """Layers to keep in float32, the calibration score with them kept, and whether it
    reached the target (when not, the best set found within the limit)."""

    kept: tuple[str, ...]
    score: float
    reached: bool
    evaluations: int


def float_layer_limit(layers: int, fraction: float = 0.25) -> int:
    """At most this many of ``layers`` stay in float32: beyond a quarter of them int8
    would no longer pay for itself, so the target is given up instead."""
    return max(0, math.floor(layers * fraction))


def rank_by_error(errors: Mapping[str, float]) -> list[str]:
    """Layer names, most sensitive (largest quantization error) first; ties keep the
    mapping's order, so the ranking is deterministic."""
    order = {name: i for i, name in enumerate(errors)}
    return sorted(errors, key=lambda name: (-errors[name], order[name]))


def choose_float_layers(
    ranked: Sequence[str],
    score: Callable[[frozenset[str]], float],
    target: float,
    limit: int,
) -> Selection:
    """The smallest prefix of ``ranked`` that, kept in float32, makes ``score`` reach
    ``target``, then pruned of any member the target does not need.

    ``score(kept)`` is the similarity of the quantized model (all layers but ``kept``
    in int8) to the float32 model on the calibration inputs; higher is better. The
    ranking (by per-layer error) is only a guess at which layers matter end to end,
    so after the target is reached each kept layer is tried back in int8, least
    sensitive first, and left there when the target still holds: the layers that
    were needed only together with others are not kept for nothing. At most
    ``limit`` layers are kept; when no prefix within it reaches the target, the best
    scoring prefix is returned with ``reached`` False.
    """
    evaluations = 0
    best: tuple[float, tuple[str, ...]] | None = None
    for count in range(0, min(limit, len(ranked)) + 1):
        kept = tuple(ranked[:count])
        value = score(frozenset(kept))
        evaluations += 1
        if best is None or value > best[0]:
            best = (value, kept)
        if value >= target:
            break
    assert best is not None
    value, kept = best
    if value < target:
        return Selection(kept, value, False, evaluations)
    for name in reversed(kept[:-1]):  # the last one added was needed to reach the target
        trial = tuple(n for n in kept if n != name)
        trial_value = score(frozenset(trial))
        evaluations += 1
        if trial_value >= target:
            kept, value = trial, trial_value
    return Selection(kept, value, True, evaluations)
