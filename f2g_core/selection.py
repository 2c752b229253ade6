"""Choosing among candidates: argmax (λ → 0), path-integral weights exp(r / λ), and particle resampling."""

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
    weights = np.exp(tilted_log_weights(scores, 1.0 / temperature))
    return weights / weights.sum()


def tilted_log_weights(values: np.ndarray, lam: float) -> np.ndarray:
    """log of exp(λ·v) up to a constant: λ·(v − max v) over the finite values, -inf for NaN.

    Shifting before scaling (the log-sum-exp trick) keeps every result in [-inf, 0] with the best at exactly 0, so
    any finite λ > 0 — 1e308 included, where λ·v alone overflows to inf for every value — gives the right weights:
    a large λ concentrates them on the best values instead of losing them all (λ = inf: on the best alone). All
    -inf when no value is finite.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(len(values), -np.inf)
    shifted = np.where(finite, values - values[finite].max(), -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):  # λ·(negative gap) below -1.8e308 is -inf: the exact limit
        return np.where(shifted == 0.0, 0.0, np.where(finite, lam * shifted, -np.inf))


def normalised(log_weights: np.ndarray) -> np.ndarray:
    """exp(log w) normalised over the finite entries (NaN / -inf weigh 0); uniform when none is finite."""
    logw = np.asarray(log_weights, dtype=np.float64)
    finite = np.isfinite(logw)
    if not finite.any():
        return np.full(len(logw), 1.0 / len(logw))
    weights = np.where(finite, np.exp(logw - logw[finite].max()), 0.0)
    return weights / weights.sum()


def effective_sample_size(log_weights: np.ndarray) -> float:
    """(Σw)² / Σw² of the normalised weights: k for equal weights, 1 when one particle holds all the weight."""
    weights = normalised(log_weights)
    return float(1.0 / np.sum(weights**2))


def resample(log_weights: np.ndarray, scheme: str, rng: np.random.Generator) -> np.ndarray:
    """k ancestor indices (sorted) drawn ∝ the weights: multinomial, or systematic (one uniform, lower variance)."""
    weights = normalised(log_weights)
    k = len(weights)
    if scheme == "multinomial":
        return np.sort(rng.choice(k, size=k, p=weights))
    if scheme == "systematic":
        points = (rng.random() + np.arange(k)) / k
        return np.minimum(np.searchsorted(np.cumsum(weights), points, side="right"), k - 1)
    raise ValueError(f"unknown resampling scheme {scheme!r} (use 'multinomial' or 'systematic')")
