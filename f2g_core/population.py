"""The population a search method evolves, what one of its steps returns, and the ``Sampler`` component.

The loop carries P chains per video as one batch ``(rows, *latent_shape)``; rows are grouped by video, each video
holding the same number of rows at step boundaries. A method step receives the population and a toolbox
(:class:`f2g_core.sampling.Tools`) and returns a :class:`Step`: the next population and, for every new row, the
row of the previous population it descends from (its ancestor). Selection and resampling are the same operation:
indices into candidates. The method never draws randomness itself (the toolbox hands out keyed generators) and never
writes trace records (the loop's observer does, from the returned :class:`Step`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from f2g_core.interfaces import Component

if TYPE_CHECKING:
    import torch

    from f2g_core.interfaces import Schedule
    from f2g_core.sampling import Tools


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

    def slots(self) -> np.ndarray:
        """(rows,) int: the ``chain`` word of each row's noise keys: its position within its video, or
        ``memo["slot"]`` where a method pins it (pruned or re-started chains keep drawing their own chain's noise,
        so a surviving chain's path does not depend on which others were dropped)."""
        return self.memo["slot"] if "slot" in self.memo else slots_of(self.video)


def slots_of(video: np.ndarray) -> np.ndarray:
    """Position of each row within its (contiguous) video group."""
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


@dataclass
class Step:
    """What one method step returns: the next population and its ancestry."""

    population: Population
    parents: np.ndarray
    """For every row of ``population``, its ancestor row in the previous population."""
    chosen: np.ndarray | None = None
    """For every row, its index among the candidates scored at this step (None when nothing was selected)."""
    ess: dict[int, float] | None = None
    """Effective sample size per video, for methods that weight particles."""
    resampled: dict[int, bool] | None = None
    """Per video: whether the particles were resampled at this step."""


class Sampler(Component):
    """A search method: how P chains per video are proposed, scored, selected or resampled step by step.

    Subclasses implement :meth:`step` (one short function, top to bottom) and usually :meth:`finish` (the final
    choice among a video's chains), declare :meth:`num_chains` and state their cost in :meth:`model_calls`, which
    a test asserts against the counted calls.
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

    def start(self, tools: Tools) -> Step:
        """The initial population: :meth:`num_chains` chains of noise per video."""
        return tools.start(self.num_chains())

    def step(self, tools: Tools, population: Population, k: int) -> Step:
        """Move every chain from level ``k`` to ``k + 1``."""
        raise NotImplementedError

    def finish(self, tools: Tools, population: Population) -> Step:
        """Reduce each video's finished chains to one row (default: the method already keeps one)."""
        return Step(population, parents=np.arange(len(population)))

    def trace_info(self) -> dict[str, Any]:
        """The options as recorded in the trace."""
        return dict(self.options.model_dump(mode="json"))
