"""The interfaces of evaluation components: prompt suites and metrics, which plugins register and ``f2g eval``
(the separate f2g-eval distribution) runs.

They live in the SDK, beside the other component bases, so a plugin that provides a suite or a metric depends on
f2g-core alone, and the one registry checks them as it checks rewards. Running suites, scoring and storing results
is f2g-eval's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from f2g_core.interfaces import Component


@dataclass(frozen=True)
class SuiteItem:
    """One prompt of a suite."""

    id: str
    prompt: str
    category: str | None = None
    dimensions: tuple[str, ...] = ()
    """VBench dimensions (or any labels) the prompt belongs to; ``--dimension`` filters on them."""
    seed: int = 0
    """Base seed: the item's jobs use ``seed + s`` for every ``s`` of ``--seeds`` (lets a suite fix its pairs)."""

    @property
    def dimension(self) -> str:
        return ",".join(self.dimensions)


@dataclass(frozen=True)
class Suite:
    name: str
    items: tuple[SuiteItem, ...]
    source: str
    """The file or the named suite it came from (for messages)."""


class NamedSuite(Component):
    """A suite a plugin provides by name (subclass it, set ``name``, implement :meth:`items`)."""

    def items(self) -> Sequence[SuiteItem]:
        raise NotImplementedError


class Metric(Component):
    """Scores one finished video; subclasses set ``name`` and :attr:`dimensions` and implement :meth:`measure`."""

    dimensions: ClassVar[tuple[str, ...]] = ()
    """The dimensions :meth:`measure` reports, in table order."""
    related_rewards: ClassVar[tuple[str, ...]] = ()
    """Reward ids that score with the same rule: guiding with one of them makes this metric not held out."""
    version: ClassVar[int] = 1
    """Raise it when a change alters the values :meth:`measure` gives (a fixed bug, new weights, another frame
    sampling): an evaluation keeps each score with the version that made it and re-scores its stored videos whose
    scores are of another version; values of an unchanged version are reused, never recomputed."""

    def measure(self, item: SuiteItem, video: np.ndarray) -> Mapping[str, float | None]:
        """Values per dimension (None where the dimension does not apply to this prompt, NaN when it failed).

        ``video`` is (frames, height, width, 3) float32 in [0, 1].
        """
        raise NotImplementedError

    def measure_video(self, item: SuiteItem, video: np.ndarray, fps: float | None) -> Mapping[str, float | None]:
        """:meth:`measure` given also the video's frame rate (the backbone's, None when unknown); what the eval
        calls. Metrics that sample frames by time override this one."""
        return self.measure(item, video)

    def columns(self) -> list[str]:
        """Column names in results: ``metric.dimension``, or the metric name alone for a single dimension."""
        dims = self.dimensions or (self.name,)
        return [self.name] if dims == (self.name,) else [f"{self.name}.{d}" for d in dims]
