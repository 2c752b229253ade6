"""The built-in samplers and combiners pass their contracts, and the sampler contract fails a method that draws
randomness of its own or names parents that do not match the rows it took."""

from __future__ import annotations

import types
from typing import Any, ClassVar

import numpy as np
import pytest

import f2g_core.default_plugins.combiners as combiners
import f2g_core.default_plugins.samplers as samplers
import f2g_core.default_plugins.search_methods as search_methods
from f2g_core import ComponentError, Population, Register, Sampler, Step, Toolbox, hookimpl
from f2g_core.contracts import CombinerContract, SamplerContract

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)

# ------------------------------------------------------------------------------------------ built-in samplers


class TestFree2GuideContract(SamplerContract):
    plugin = samplers
    component_id = "free2guide"
    options: ClassVar[dict[str, Any]] = {"num_candidates": 3, "start": 1, "num_guided_steps": 4, "lookahead": 1}
    plain_options: ClassVar[dict[str, Any] | None] = {"num_candidates": 1}


class TestFree2GuideInitialCandidatesContract(TestFree2GuideContract):
    options: ClassVar[dict[str, Any]] = {"num_candidates": 3, "num_guided_steps": 3, "initial_candidates": True}


class TestBestOfNContract(SamplerContract):
    plugin = samplers
    component_id = "best-of-n"
    options: ClassVar[dict[str, Any]] = {"num_candidates": 3}
    plain_options: ClassVar[dict[str, Any] | None] = {"num_candidates": 1}


class TestSMCContract(SamplerContract):
    plugin = samplers
    component_id = "smc"
    options: ClassVar[dict[str, Any]] = {"num_particles": 4, "ess_threshold": 1.0}
    plain_options: ClassVar[dict[str, Any] | None] = {"num_particles": 1}


class TestBeamContract(SamplerContract):
    plugin = samplers
    component_id = "beam"
    options: ClassVar[dict[str, Any]] = {"num_beams": 2, "num_candidates": 3, "num_guided_steps": 4}
    plain_options: ClassVar[dict[str, Any] | None] = {"num_beams": 1, "num_candidates": 1}


class TestPlainContract(SamplerContract):
    plugin = samplers
    component_id = "none"
    plain_options: ClassVar[dict[str, Any] | None] = {}


class TestPruneContract(SamplerContract):
    plugin = search_methods
    component_id = "prune"
    options: ClassVar[dict[str, Any]] = {"num_candidates": 4, "checkpoints": [2, 5], "keep": 0.5}
    plain_options: ClassVar[dict[str, Any] | None] = {"num_candidates": 1}


class TestDraftContract(SamplerContract):
    plugin = search_methods
    component_id = "draft"
    options: ClassVar[dict[str, Any]] = {"num_candidates": 3, "num_commits": 2, "draft_steps": 2}
    plain_options: ClassVar[dict[str, Any] | None] = {"num_candidates": 1, "num_commits": 1, "commit_eta": None}


# ----------------------------------------------------------------------------------------- built-in combiners


class TestWeightedSumContract(CombinerContract):
    plugin = combiners
    component_id = "weighted-sum"


class TestNormalizedSumContract(CombinerContract):
    plugin = combiners
    component_id = "normalized-sum"


class TestConsensusContract(CombinerContract):
    plugin = combiners
    component_id = "consensus"


# ------------------------------------------------------------------------------ methods that break the contract


class _TwoChains(Sampler):
    """Two plain chains per video, the best kept at the end."""

    name = "two-chains"
    size_option = None

    def num_chains(self) -> int:
        return 2

    def model_calls(self, num_steps: int) -> int:
        return 2 * num_steps

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        return tools.plain(population, k)

    def finish(self, tools: Toolbox, population: Population) -> Step:
        rows = np.flatnonzero(population.chain == 0)
        return Step(population.take(rows), parents=rows)


class _PrivateRandomness(_TwoChains):
    """Keeps a chain picked by numpy's global generator."""

    name = "private-randomness"

    def finish(self, tools: Toolbox, population: Population) -> Step:
        rows = np.asarray([rows[np.random.randint(len(rows))] for rows in _video_rows(population)])
        return Step(population.take(rows), parents=rows)


class _WrongParents(_TwoChains):
    """Swaps each video's two chains at every step but says each row descends from itself."""

    name = "wrong-parents"

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        moved = tools.plain(population, k).population
        swapped = np.concatenate([rows[::-1] for rows in _video_rows(moved)])
        return Step(moved.take(swapped), parents=np.arange(len(moved)))


class _WrongRowCount(_TwoChains):
    """Forgets to reduce: both chains of every video survive the finish."""

    name = "wrong-row-count"

    def finish(self, tools: Toolbox, population: Population) -> Step:
        return Step(population, parents=np.arange(len(population)))


def _video_rows(population: Population) -> list[np.ndarray]:
    return [np.flatnonzero(population.video == v) for v in dict.fromkeys(population.video.tolist())]


def _contract(sampler: type[Sampler]) -> SamplerContract:
    @hookimpl
    def register_samplers(register: Register) -> None:
        register(sampler)

    contract = type(
        f"Contract{sampler.__name__}",
        (SamplerContract,),
        {"plugin": types.SimpleNamespace(register_samplers=register_samplers), "component_id": sampler.name},
    )
    return contract()


def test_a_well_behaved_multi_chain_method_passes() -> None:
    contract = _contract(_TwoChains)
    contract.test_the_same_seed_twice_gives_the_same_video()
    contract.test_the_trace_lineage_is_consistent()
    contract.test_model_calls_equal_the_formula()


def test_a_method_drawing_its_own_randomness_fails_naming_it() -> None:
    with pytest.raises(AssertionError, match="draws randomness of its own"):
        _contract(_PrivateRandomness).test_the_same_seed_twice_gives_the_same_video()


def test_parents_that_do_not_match_the_rows_taken_fail_naming_them() -> None:
    with pytest.raises(AssertionError, match="its parents do not match the rows it took"):
        _contract(_WrongParents).test_the_trace_lineage_is_consistent()


def test_a_wrong_row_count_fails_naming_the_sampler_and_the_problem() -> None:
    with pytest.raises(ComponentError, match=r"sampler 'wrong-row-count' finished with 2 rows \(videos \[0, 0\]\)"):
        _contract(_WrongRowCount).test_model_calls_equal_the_formula()


def test_a_wrong_cost_formula_fails() -> None:
    wrong = type("WrongCost", (_TwoChains,), {"name": "wrong-cost", "model_calls": lambda self, num_steps: num_steps})
    with pytest.raises(AssertionError, match="model_calls"):
        _contract(wrong).test_model_calls_equal_the_formula()


def test_a_combiner_that_hides_a_failed_score_fails() -> None:
    class Lenient(combiners.WeightedSum):
        """Treats a failed score as zero (wrong: it could win)."""

        name = "lenient"

        def combine(self, scores: Any, weights: Any) -> np.ndarray:
            return super().combine({k: np.nan_to_num(v) for k, v in scores.items()}, weights)

    contract = type("ContractLenient", (CombinerContract,), {"plugin": combiners, "component_id": "lenient"})()
    with pytest.raises(AssertionError, match="must be NaN"):
        contract.test_a_nan_score_gives_nan_and_leaves_the_others_finite(Lenient())
