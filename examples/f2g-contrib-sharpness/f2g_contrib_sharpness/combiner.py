"""A combiner: a candidate scores its worst weighted reward, so it must satisfy all of them."""

from __future__ import annotations

# --8<-- [start:combiner]
from collections.abc import Mapping

import numpy as np
from pydantic import Field

from f2g_core.interfaces import Combiner


class Minimum(Combiner):
    """The worst of the weighted rewards: a candidate must satisfy all of them."""

    name = "minimum"

    class Options(Combiner.Options):
        floor: float = Field(0.0, description="Added to every score (shifts, never reorders).")

    def combine(self, scores: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        # scores: reward name -> N scores (NaN = that reward failed on that candidate); weights: name -> weight
        matrix = np.stack([weights[name] * np.asarray(values, dtype=np.float64) for name, values in scores.items()])
        return matrix.min(axis=0) + self.options.floor  # np.min propagates NaN: NaN in, NaN out


# --8<-- [end:combiner]
