"""Choosing one candidate from combined scores: argmax (λ → 0) or path-integral weights exp(r / λ)."""

from __future__ import annotations

import numpy as np


def select(scores: np.ndarray, method: str, temperature: float, rng: np.random.Generator) -> int | None:
    """Index of the chosen candidate, or None when every score is NaN (nothing could be scored).

    ``soft`` samples i with probability ∝ exp(r_i / λ) over the finite scores (the Monte-Carlo estimate of the
    optimal control); ``argmax`` is its λ → 0 limit, breaking ties by the lowest index.
    """
    finite = np.isfinite(scores)
    if not finite.any():
        return None
    if method == "argmax":
        return int(np.argmax(np.where(finite, scores, -np.inf)))
    if method == "soft":
        return int(rng.choice(len(scores), p=soft_weights(scores, temperature)))
    raise ValueError(f"unknown selection method {method!r} (use 'argmax' or 'soft')")


def soft_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Normalised exp(r / λ) over finite scores (0 weight for NaN), computed stably."""
    if temperature <= 0:
        raise ValueError("temperature (λ) must be > 0")
    finite = np.isfinite(scores)
    logits = np.where(finite, np.asarray(scores, dtype=np.float64) / temperature, -np.inf)
    logits -= logits[finite].max()
    weights = np.exp(logits)
    return weights / weights.sum()
