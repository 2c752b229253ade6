"""The sampler interface: the population a search method evolves, what one of its steps returns, the toolbox it
works through, and the ``Sampler`` component.

The loop carries P chains per video as one batch ``(rows, *latent_shape)``; rows are grouped by video, each video
holding the same number of rows at step boundaries. A method step receives the population and a :class:`Toolbox`
and returns a :class:`Step`: the next population and, for every new row, the row of the previous population it
descends from (its ancestor). Selection and resampling are the same operation: indices into candidates
(:meth:`Candidates.select`, :meth:`Population.select`, or the toolbox's :meth:`Toolbox.keep_best` and
:meth:`Toolbox.resample`, which call them). The method never draws randomness itself (the toolbox hands out keyed
generators) and never writes trace records: the loop's observer does, from the returned :class:`Step`, and derives
each row's ``chosen`` candidate from what the step selected.

This module imports the component bases only: the loop (:mod:`f2g_core.sampling`) implements :class:`Toolbox`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np

from f2g_core.interfaces import Component

if TYPE_CHECKING:
    import torch

    from f2g_core.interfaces import Backbone, Schedule


@dataclass
class Population:
    """P chains per video at one noise level."""

    x: torch.Tensor
    """Latents (rows, *latent_shape)."""
    x0: torch.Tensor | None
    """x̂0 of ``x`` at the current level when already known (the loop then needs no model call), else None."""
    video: np.ndarray
    """(rows,) int: the video (prompt, seed) of each row; rows of one video are contiguous."""
    chain: np.ndarray
    """(rows,) int: lineage ids, for the trace (a resampled copy keeps its parent's chain id)."""
    memo: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-row values a method carries along its chains (e.g. SMC potentials); reindexed with the rows."""

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, rows: np.ndarray) -> Population:
        """The rows ``rows`` (ancestor indices, repeats allowed), with their x̂0 and memo."""
        import torch

        index = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=self.x.device)
        return Population(
            x=self.x[index],
            x0=None if self.x0 is None else self.x0[index],
            video=self.video[rows],
            chain=self.chain[rows],
            memo={key: value[rows] for key, value in self.memo.items()},
        )

    def select(self, rows: np.ndarray) -> Step:
        """The step that keeps rows ``rows`` of this population (a choice among finished or existing chains): each
        kept row's parent is the row it was, and its ``chosen`` candidate its position among its video's rows."""
        rows = np.asarray(rows, dtype=np.int64)
        return Step(self.take(rows), parents=rows, picked=rows, pool_video=self.video)

    def first(self, count: int) -> Step:
        """The step that keeps each video's first ``count`` rows and drops the others, choosing nothing (each kept
        row is its own parent): a population that shrinks without a reward to rank it (SMC's funnel on an unguided
        step, drafts when no video is guided). Unchanged when no video has more than ``count`` rows."""
        position = slots_of(self.video)
        if position.max(initial=-1) < count:
            return Step(self, parents=np.arange(len(self)))
        rows = np.flatnonzero(position < count)
        return Step(self.take(rows), parents=rows)

    def slots(self) -> np.ndarray:
        """(rows,) int: the ``chain`` word of each row's noise keys: its position within its video, or
        ``memo["slot"]`` where a method pins it (pruned or re-started chains keep drawing their own chain's noise,
        so a surviving chain's path does not depend on which others were dropped)."""
        return self.memo["slot"] if "slot" in self.memo else slots_of(self.video)


def slots_of(video: np.ndarray) -> np.ndarray:
    """Position of each row among its video's rows, in row order (the rows of a video need not be contiguous)."""
    out = np.zeros(len(video), dtype=np.int64)
    for _, rows in groups(video):
        out[rows] = np.arange(len(rows))
    return out


def groups(video: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(video, rows) for every video present, in order."""
    for v in dict.fromkeys(int(i) for i in video):
        yield v, np.flatnonzero(video == v)


@dataclass
class Candidates:
    """n proposed transitions per row of a population, parent-major (row r owns rows r·n … r·n + n − 1)."""

    population: Population
    """The candidates as a population at the next level (``x0`` is their Tweedie x̂0)."""
    parent: np.ndarray
    """(rows·n,) the row of the proposing population each candidate descends from."""
    index: np.ndarray
    """(rows·n,) the candidate's number within its parent (0 = the plain transition's noise)."""

    def join(self, more: Candidates, rows: np.ndarray) -> Candidates:
        """These candidates followed by ``more``, which rows ``rows`` of the same population proposed (``more``'s
        parents index ``rows``): one pool, so one selection covers both."""
        import torch

        first, second = self.population, more.population
        assert first.x0 is not None and second.x0 is not None, "proposals carry their x̂0"
        joined = Population(
            x=torch.cat([first.x, second.x]),
            x0=torch.cat([first.x0, second.x0]),
            video=np.concatenate([first.video, second.video]),
            chain=np.concatenate([first.chain, second.chain]),
            memo={key: np.concatenate([value, second.memo[key]]) for key, value in first.memo.items()},
        )
        parent = np.concatenate([self.parent, np.asarray(rows)[more.parent]])
        return Candidates(joined, parent, np.concatenate([self.index, more.index]))

    def select(self, rows: np.ndarray) -> Step:
        """The step that keeps candidates ``rows``: each descends from its proposing row, and its ``chosen``
        candidate is its position among its video's candidates (parent-major, as scored)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Step(
            self.population.take(rows), parents=self.parent[rows], picked=rows, pool_video=self.population.video
        )


@dataclass
class Step:
    """What one method step returns: the next population and its ancestry.

    Build it with :meth:`Candidates.select` or :meth:`Population.select` (or a toolbox helper) when the step chose
    among candidates or chains, so the loop can record which; ``Step(population, parents)`` when it chose nothing.
    """

    population: Population
    parents: np.ndarray
    """For every row of ``population``, its ancestor row in the previous population."""
    ess: dict[int, float] | None = None
    """Effective sample size per video, for methods that weight particles."""
    resampled: dict[int, bool] | None = None
    """Per video: whether the particles were resampled at this step."""
    picked: np.ndarray | None = None
    """For every row, its row in the pool it was selected from (None when nothing was selected). The loop derives
    the trace's ``chosen`` from it: the row's position among its video's rows of the pool, which is its index into
    that step's scored candidates (``StepRecord.combined``)."""
    pool_video: np.ndarray | None = None
    """The video of every row of that pool (set with :attr:`picked`)."""


class Toolbox(Protocol):
    """What a method's :meth:`Sampler.start`, :meth:`Sampler.step` and :meth:`Sampler.finish` receive: model
    calls, scoring, selection and keyed randomness, each counted per video into the trace.

    Implemented by the loop (:class:`f2g_core.sampling.Tools`); a method only calls it. Every model call goes
    through it so the cost is counted; every random choice goes through it so runs are reproducible.
    """

    schedule: Schedule
    """The noise levels of the run (``schedule.sigmas[k]``: σ at the start of step k, 1 = noise, 0 = clean)."""
    backbone: Backbone
    """The run's backbone (e.g. for its :meth:`~f2g_core.interfaces.Backbone.draft_mode`); call the model
    through the toolbox, never directly, so every call is counted."""

    @property
    def num_steps(self) -> int:
        """Sampling steps T: steps are 0 … T − 1, level T is clean."""
        ...

    @property
    def num_videos(self) -> int:
        """Videos sampled together (rows of video v carry ``population.video == v``)."""
        ...

    @property
    def guiding(self) -> bool:
        """False once no video is guided any more (no rewards, or every budget ran out): sample plainly."""
        ...

    def start(self, chains: int, pinned: bool = False) -> Step:
        """``chains`` chains of initial noise per video (chain c keyed (seed, c, INIT, 0)).

        ``pinned``: each chain keeps drawing its own chain's noise however many others are dropped later (its
        number is kept in ``memo["slot"]``), so a survivor follows exactly the path it would with all alive (what
        ``prune`` and ``draft`` need; without it a chain's noise follows its position among the video's rows).
        """
        ...

    def initial_candidates(self, n: int) -> Candidates:
        """n initial noises per video (candidate 0 is the plain one) with their x̂0 at level 0 (n calls)."""
        ...

    def with_x0(self, population: Population, k: int) -> Population:
        """The population with x̂0 at level ``k`` filled in (one call per row when not yet known)."""
        ...

    def plain(self, population: Population, k: int, eta: float | None = None) -> Step:
        """The unguided transition of every row from level k to k + 1 (candidate-0 noise)."""
        ...

    def propose(self, population: Population, k: int, n: int, first: int = 0) -> Candidates:
        """n candidate transitions per row from level k to k + 1 with their x̂0 at k + 1 (rows·n calls);
        candidate i uses the noise keyed (seed, slot, k, i), numbered from ``first``."""
        ...

    def lookahead(self, candidates: Population, level: int, steps: int) -> torch.Tensor:
        """x̂0 of candidates at ``level`` refined by ``steps`` deterministic sub-steps (one call each)."""
        ...

    def forget_rows(self) -> None:
        """Start a backbone's per-row state (a feature cache) afresh at the next call: between cheap drafts and
        full-quality commits, or wherever what came before must not carry over."""
        ...

    def score(self, x0: torch.Tensor, video: np.ndarray, step: int) -> np.ndarray:
        """Combined scores of rows ``x0`` of videos ``video`` (NaN: not scored); key frames only."""
        ...

    def score_candidates(self, candidates: Candidates, k: int, lookahead: int = 0) -> np.ndarray:
        """Combined scores of the candidates proposed at step ``k`` from their x̂0 (sharpened by ``lookahead``
        deterministic sub-steps)."""
        ...

    def score_finished(self, population: Population) -> np.ndarray:
        """Combined scores of finished chains (their latents are clean, so x̂0 is x)."""
        ...

    def keep_best(
        self,
        pool: Candidates | Population,
        scores: np.ndarray,
        keep: int = 1,
        selection: Literal["argmax", "soft"] = "argmax",
        temperature: float = 1.0,
    ) -> Step:
        """Per video, the ``keep`` best rows of ``pool`` by ``scores`` (NaN never wins).

        ``keep = 1`` selects by ``selection`` (``soft``: ∝ exp(score/temperature)); more keeps the top ``keep``
        (ties to the lower row) in row order. A video none of whose rows scored keeps its plain rows: candidate 0
        of its first ``keep`` parents (of a population: its first ``keep`` rows).
        """
        ...

    def resample(
        self,
        pool: Candidates,
        log_weights: np.ndarray,
        scheme: Literal["multinomial", "systematic", "ssp"] = "systematic",
        size: int | None = None,
        ess_threshold: float = 1.0,
    ) -> Step:
        """Per video, ``size`` (default: as many) rows drawn ∝ exp(log_weights) when the effective sample size is
        below ``ess_threshold`` × rows or the video shrinks (and some weight is finite); otherwise its first
        ``size`` rows. The step carries each video's ESS and whether it resampled."""
        ...

    def rng(self, video: int, k: int, chain: int = 0) -> np.random.Generator:
        """The generator of one video at step ``k``, keyed by its seed: the only randomness a method may use."""
        ...


class Sampler(Component):
    """A search method: how P chains per video are proposed, scored, selected or resampled step by step.

    Subclasses implement :meth:`step` (one short function, top to bottom), declare :meth:`num_chains` and state
    their cost in :meth:`model_calls`, which :class:`~f2g_core.contracts.SamplerContract` asserts against the
    counted calls. The default :meth:`finish` keeps each video's best finished chain.
    """

    needs_rewards: ClassVar[bool] = True
    """Whether the method scores anything (the plain sampler does not)."""
    size_option: ClassVar[str | None] = "num_candidates"
    """The option ``f2g generate -n`` sets (candidates, chains or particles); None when there is none."""
    cost: ClassVar[str] = ""
    """The :meth:`model_calls` formula in words, shown by ``f2g list samplers``."""

    @classmethod
    def description(cls) -> str:
        """The docstring's first line and, where stated, the cost formula."""
        line = super().description()
        return f"{line} Model calls per video: {cls.cost}." if cls.cost else line

    def num_chains(self) -> int:
        """Chains per video at the start."""
        return 1

    def check(self, num_steps: int) -> None:
        """Raise ``ValueError`` with a fix-it message when the options do not fit ``num_steps`` sampling steps."""

    def model_calls(self, num_steps: int) -> int:
        """Denoiser calls (samples through the model) one video costs with these options."""
        raise NotImplementedError

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int | None:
        """How many times per video this method scores candidates with these options when nothing stops it
        (guided steps, a scored initial population, a scored final choice); None when it cannot say.

        The trace reports it as ``planned_guided_steps``, so a budget that stops guidance early shows as "2 of 6
        guided steps scored"; with None the trace counts the scorings the method attempted.
        """
        return None

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any] | None:
        """The options that spend at most ``model_calls`` per video at ``num_steps`` steps, by the method's
        documented rule, around the options ``given`` explicitly (which win); None when the method has no rule.

        Raise ``ValueError`` with a fix-it message when nothing fits.
        """
        return None

    def start(self, tools: Toolbox) -> Step:
        """The initial population: :meth:`num_chains` chains of noise per video."""
        return tools.start(self.num_chains())

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        """Move every chain from level ``k`` to ``k + 1``."""
        raise NotImplementedError

    def finish(self, tools: Toolbox, population: Population) -> Step:
        """Reduce each video's finished chains to one row: unchanged when each video has one already, else the
        best-scoring finished chain (chain 0 when none could be scored)."""
        if len(population) == tools.num_videos:
            return Step(population, parents=np.arange(len(population)))
        return tools.keep_best(population, tools.score_finished(population))

    def trace_info(self) -> dict[str, Any]:
        """The options as recorded in the trace."""
        return dict(self.options.model_dump(mode="json"))
