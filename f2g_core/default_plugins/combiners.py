"""Built-in ensembles of rewards: weighted sum, z-scored sum and rank consensus (Borda count).

Every combiner maps a candidate with a NaN score from any reward to NaN: a failed score must never win.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pydantic import Field

from f2g_core.hookspecs import Register, hookimpl
from f2g_core.interfaces import Combiner


def _stack(scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Scores as an (R, N) float array and the matching weights as (R,)."""
    names = list(scores)
    matrix = np.stack([np.asarray(scores[name], dtype=np.float64) for name in names])
    return matrix, np.asarray([float(weights.get(name, 1.0)) for name in names])


def _failed(matrix: np.ndarray) -> np.ndarray:
    """Candidates (columns) for which any reward failed."""
    return np.isnan(matrix).any(axis=0)


class WeightedSum(Combiner):
    """Σ w_k r_k — the paper's ensemble (β = 0.75 on the LVLM, 0.25 on the image reward)."""

    name = "weighted-sum"

    def combine(self, scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        matrix, w = _stack(scores, weights)
        return w @ matrix


class NormalizedSum(Combiner):
    """Σ w_k z_k, each reward z-scored across the candidates first, so rewards on different scales mix fairly."""

    name = "normalized-sum"

    class Options(Combiner.Options):
        min_std: float = Field(
            1e-8, gt=0, description="A reward whose spread is below this counts as constant (z = 0)."
        )

    def combine(self, scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        matrix, w = _stack(scores, weights)
        failed = _failed(matrix)
        valid = matrix[:, ~failed]
        z = np.zeros_like(matrix)
        if valid.shape[1] > 0:
            mean = valid.mean(axis=1, keepdims=True)
            std = valid.std(axis=1, keepdims=True)
            spread = np.where(std < self.options.min_std, np.inf, std)  # a constant reward says nothing: z = 0
            z = (matrix - mean) / spread
        combined = w @ np.nan_to_num(z)
        combined[failed] = np.nan
        return combined


class Consensus(Combiner):
    """Borda count: each reward ranks the candidates (ties share the average rank), weighted ranks are summed."""

    name = "consensus"

    def combine(self, scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        matrix, w = _stack(scores, weights)
        failed = _failed(matrix)
        combined = np.full(matrix.shape[1], np.nan)
        if (~failed).any():
            combined[~failed] = w @ np.stack([_average_ranks(row) for row in matrix[:, ~failed]])
        return combined


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 (higher value, higher rank) with ties given the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


@hookimpl
def register_combiners(register: Register) -> None:
    register(WeightedSum, aliases=("sum",))
    register(NormalizedSum, aliases=("zscore",))
    register(Consensus, aliases=("borda", "rank"))
