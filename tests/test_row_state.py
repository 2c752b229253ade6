"""Backbones with per-row state (feature caches): before every denoiser batch the loop names, for each row, the row
of the previous batch it continues, through selection, resampling, candidates and look-ahead, for every method."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

from f2g_core.gaussian_mixture import GaussianMixtureBackbone
from f2g_core.interfaces import Level
from f2g_core.pipeline import Pipeline
from f2g_core.registry import Registry
from f2g_core.sampling import ROW_STATE
from f2g_core.testing import gmm_run_config

METHODS: dict[str, dict[str, Any]] = {
    "free2guide": {"num_candidates": 3, "start": 0, "num_guided_steps": 4, "lookahead": 1},
    "smc": {"num_particles": 4, "ess_threshold": 1.0, "resampling": "multinomial"},
    "beam": {"num_beams": 2, "num_candidates": 3, "start": 0, "num_guided_steps": 4},
    "best-of-n": {"num_candidates": 3},
    "prune": {"num_candidates": 4, "checkpoints": [1, 3]},
    "draft": {"num_candidates": 4, "num_commits": 2, "draft_steps": 3},
}


class Recording(GaussianMixtureBackbone):
    """The analytic backbone, declaring per-row state and recording what the loop tells it: every batch it
    denoises with the ancestors announced for it, and which latents each transition made from which."""

    name = "recording-mixture"

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[np.ndarray, torch.Tensor]] = []
        self.made_from: dict[bytes, torch.Tensor] = {}
        self.announced: np.ndarray | None = None

    @property
    def row_state(self) -> bool:
        return True

    def follow_rows(self, ancestors: np.ndarray) -> None:
        self.announced = ancestors

    def denoise(self, latents: Any, level: Level, cond: Any) -> Any:
        assert self.announced is not None and len(self.announced) == len(latents), "every batch is announced"
        self.batches.append((self.announced, latents.clone()))
        self.announced = None
        return super().denoise(latents, level, cond)

    def transition(self, latents: Any, x0: Any, src: Level, dst: Level, noise: Any, eta: float) -> Any:
        out = super().transition(latents, x0, src, dst, noise, eta)
        for before, after in zip(latents, out, strict=True):
            self.made_from[after.numpy().tobytes()] = before.clone()
        return out


def _descends(row: torch.Tensor, ancestor: torch.Tensor, made_from: dict[bytes, torch.Tensor]) -> bool:
    """Whether ``ancestor`` is ``row``'s transition source or lies on the path moved on from it (a look-ahead
    sub-step continues the same chain: its state is the chain's)."""
    source = made_from.get(row.numpy().tobytes())
    step = ancestor
    for _ in range(100):
        if source is not None and torch.equal(step, source):
            return True
        if step.numpy().tobytes() not in made_from:
            return False
        step = made_from[step.numpy().tobytes()]
    return False


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_row_is_announced_as_the_continuation_of_the_row_it_was_moved_from(
    f2g_registry: Registry, method: str
) -> None:
    config = gmm_run_config()
    config["sampler"] = {"num_steps": 6, "eta": 1.0}
    config["guidance"] = {"method": method, "options": METHODS[method]}
    backbone = Recording()
    with Pipeline.from_config(config, registry=f2g_registry) as pipeline:
        pipeline.backbone = backbone
        pipeline.generate(seed=2)
    known = reordered = 0
    for (_, before), (ancestors, rows) in itertools.pairwise(backbone.batches):
        for row, ancestor in zip(rows, ancestors, strict=True):
            if ancestor >= 0:
                known += 1
                assert _descends(row, before[ancestor], backbone.made_from), "the announced ancestor is wrong"
        reordered += len(ancestors) != len(before) or not np.array_equal(ancestors, np.arange(len(before)))
    assert known > 0
    if method != "best-of-n":
        assert reordered > 0  # the method selected, resampled or duplicated rows between batches


def test_rows_are_labelled_only_for_backbones_with_row_state() -> None:
    from f2g_core.sampling import Observer, Tools, Video
    from f2g_core.trace import RunTrace

    for backbone, labelled in ((GaussianMixtureBackbone(), False), (Recording(), True)):
        backbone.load()
        trace = RunTrace(prompt="p", seed=0, method="test", num_steps=4, key_frames=[0])
        video = Video(prompt="p", seed=0, cond=backbone.encode_prompt("p", None, None), trace=trace)
        tools = Tools(backbone, backbone.schedule(4), [video], eta=1.0, key_frames=[0])
        Observer(tools).begin(0)
        population = tools.with_x0(tools.start(2).population, 0)
        assert (ROW_STATE in population.memo) is labelled
