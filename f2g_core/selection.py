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


def resample(log_weights: np.ndarray, scheme: str, rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """``size`` (default: as many as there are weights) ancestor indices, sorted, drawn ∝ the weights.

    ``multinomial`` draws independently; ``systematic`` uses one uniform (lower variance); ``ssp`` (Srinivasan
    sampling process) gives particle i either ⌊size·w_i⌋ or ⌈size·w_i⌉ copies with mean size·w_i — the least
    spread a scheme with these means can have — by settling the fractional parts two at a time.
    """
    weights = normalised(log_weights)
    k = len(weights)
    n = k if size is None else size
    if scheme == "multinomial":
        return np.sort(rng.choice(k, size=n, p=weights))
    if scheme == "systematic":
        points = (rng.random() + np.arange(n)) / n
        return np.minimum(np.searchsorted(np.cumsum(weights), points, side="right"), k - 1)
    if scheme == "ssp":
        return np.repeat(np.arange(k), _ssp_counts(n * weights, rng))
    raise ValueError(f"unknown resampling scheme {scheme!r} (use 'multinomial', 'systematic' or 'ssp')")


def _ssp_counts(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer counts with E[count_i] = expected_i, each the floor or ceiling of it, summing to Σ expected.

    Two fractional parts a, b at a time: if a + b < 1 one of them takes a + b and the other 0 (the first with
    probability a / (a + b)); otherwise one becomes 1 and the other a + b − 1 (the first with probability
    (1 − b) / (2 − a − b)). Each move keeps both means, and at least one part becomes whole.
    """
    counts = np.floor(expected + 1e-12)
    frac = np.clip(expected - counts, 0.0, 1.0)
    open_ = [i for i in range(len(frac)) if 1e-9 < frac[i] < 1 - 1e-9]
    while len(open_) >= 2:
        i, j = open_[0], open_[1]
        a, b = frac[i], frac[j]
        if a + b < 1:
            first = rng.random() < a / (a + b)
            frac[i], frac[j] = (a + b, 0.0) if first else (0.0, a + b)
        else:
            first = rng.random() < (1 - b) / (2 - a - b)
            frac[i], frac[j] = (1.0, a + b - 1) if first else (a + b - 1, 1.0)
        open_ = [m for m in open_ if 1e-9 < frac[m] < 1 - 1e-9]
    counts += np.round(frac)  # what is left is whole up to rounding
    total = round(float(expected.sum()))
    counts[int(np.argmax(frac))] += total - counts.sum()  # float drift only: the sum is preserved exactly
    return counts.astype(np.int64)
