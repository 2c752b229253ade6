"""Built-in combiners and selection rules."""

import numpy as np
import pytest

from f2g_core.default_plugins.combiners import Consensus, NormalizedSum, WeightedSum
from f2g_core.selection import select, soft_weights

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

NAN = float("nan")


def test_weighted_sum_uses_weights() -> None:
    out = WeightedSum().combine({"a": np.array([1.0, 2.0]), "b": np.array([10.0, 0.0])}, {"a": 0.75, "b": 0.25})
    np.testing.assert_allclose(out, [0.75 + 2.5, 1.5])


def test_normalized_sum_z_scores_each_reward() -> None:
    out = NormalizedSum().combine(
        {"a": np.array([1.0, 2.0, 3.0]), "b": np.array([300.0, 100.0, 200.0])}, {"a": 1, "b": 1}
    )
    z = np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5)
    np.testing.assert_allclose(out, z + np.array([1.0, -1.0, 0.0]) * np.sqrt(1.5))


def test_normalized_sum_constant_reward_does_not_divide_by_zero() -> None:
    out = NormalizedSum().combine({"a": np.array([5.0, 5.0, 5.0]), "b": np.array([0.0, 1.0, 2.0])}, {"a": 1, "b": 1})
    assert np.isfinite(out).all()
    assert out.argmax() == 2


def test_consensus_borda_with_ties() -> None:
    out = Consensus().combine({"a": np.array([1.0, 1.0, 3.0]), "b": np.array([0.0, 5.0, 2.0])}, {"a": 1, "b": 1})
    np.testing.assert_allclose(out, [0.5 + 0.0, 0.5 + 2.0, 2.0 + 1.0])


@pytest.mark.parametrize("combiner", [WeightedSum(), NormalizedSum(), Consensus()])
def test_nan_candidates_come_out_nan(combiner: object) -> None:
    out = combiner.combine({"a": np.array([1.0, NAN, 3.0]), "b": np.array([1.0, 9.0, 0.0])}, {"a": 1, "b": 1})  # type: ignore[attr-defined]
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()


def test_argmax_skips_nan_and_returns_none_when_all_fail() -> None:
    rng = np.random.default_rng(0)
    assert select(np.array([NAN, 1.0, 0.5]), "argmax", 1.0, rng) == 1
    assert select(np.array([NAN, NAN]), "argmax", 1.0, rng) is None
    assert select(np.array([NAN, NAN]), "soft", 1.0, rng) is None


def test_soft_weights_follow_exp_r_over_lambda() -> None:
    w = soft_weights(np.array([0.0, np.log(3.0), NAN]), 1.0)
    np.testing.assert_allclose(w, [0.25, 0.75, 0.0])
    sharp = soft_weights(np.array([0.0, 1.0]), 0.01)
    assert sharp[1] > 0.999


def test_soft_selection_frequencies() -> None:
    rng = np.random.default_rng(1)
    picks = [select(np.array([0.0, np.log(3.0)]), "soft", 1.0, rng) for _ in range(4000)]
    assert abs(np.mean(picks) - 0.75) < 0.03
