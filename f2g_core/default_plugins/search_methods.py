"""Search methods that spend less on chains that will lose: early pruning and draft-then-commit.

Both keep every surviving chain on its own noise (``memo["slot"]`` pins a chain's noise keys to its number among
the video's N chains), so a kept chain follows exactly the path best-of-N's chain of that number would: pruning
and drafting only decide *which* of best-of-N's chains are finished, never what they look like.

Costs (denoiser calls per video, T = sampling steps):

* ``prune``  Σ over levels ℓ = 0 … T−1 of the chains alive when level ℓ is denoised (N until the first checkpoint,
  then ⌈N·keep⌉, ⌈N·keep²⌉ …; a checkpoint at step c scores level c + 1 before pruning)
* ``draft``  N·S + m·(T − 1): N drafts of S calls each, then m commits that reuse their draft's first x̂0
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from f2g_core.default_plugins.samplers import chain_calls, largest_fitting, options_cost, too_small
from f2g_core.errors import ConfigError
from f2g_core.hookspecs import Register, hookimpl
from f2g_core.population import Population, Sampler, Step, Toolbox

if TYPE_CHECKING:
    import torch

    from f2g_core.interfaces import Schedule


def steps_from_sigma(values: list[float], schedule: Schedule) -> list[int]:
    """For every σ*, the first step whose starting noise level σ_k is ≤ σ* (steps 0 … T−2; none if no step is)."""
    sigmas = schedule.sigmas[: schedule.num_steps - 1]
    return sorted({next(k for k, s in enumerate(sigmas) if s <= v) for v in values if min(sigmas, default=1) <= v})


class Prune(Sampler):
    """Early-pruned best-of-N: N chains; at each checkpoint score every live chain's x̂0 and keep the best."""

    name = "prune"
    cost: ClassVar[str] = "Σ_ℓ chains alive at level ℓ (N, then ⌈N·keep⌉ … after each checkpoint)"

    class Options(Sampler.Options):
        num_candidates: int = Field(8, ge=1, le=1024, description="Chains N per video at the start.")
        keep: float = Field(0.5, gt=0.0, le=1.0, description="Fraction of the live chains kept at each checkpoint.")
        checkpoints: list[float] | None = Field(
            None,
            description="Where chains are scored and pruned: step indices (checkpoint_by: step) or noise levels σ "
            "(checkpoint_by: sigma, the first step starting at σ_k ≤ each value). None = steps ⌈f·T⌉ − 1 for f in "
            "checkpoint_fractions.",
        )
        checkpoint_by: Literal["step", "sigma"] = Field("step", description="How checkpoints are given.")
        checkpoint_fractions: list[float] = Field(
            default_factory=lambda: [0.25, 0.5, 0.75],
            description="Default checkpoints as fractions of the run (used when checkpoints is None).",
        )

        @field_validator("checkpoint_fractions")
        @classmethod
        def _fractions(cls, value: list[float]) -> list[float]:
            if any(not 0.0 < f < 1.0 for f in value):
                raise ValueError("checkpoint_fractions: every fraction must be between 0 and 1 (exclusive)")
            return value

        def checkpoint_steps(self, num_steps: int, schedule: Schedule | None = None) -> list[int]:
            """The checkpoint steps for ``num_steps`` steps (σ checkpoints need the backbone's ``schedule``)."""
            if self.checkpoints is None:
                last = num_steps - 2
                return sorted({min(max(math.ceil(f * num_steps) - 1, 0), last) for f in self.checkpoint_fractions})
            if self.checkpoint_by == "step":
                return sorted({int(c) for c in self.checkpoints})
            if schedule is None:
                raise ValueError("guidance.options.checkpoints are noise levels: the cost depends on the schedule")
            return steps_from_sigma(self.checkpoints, schedule)

        def live(self, num_steps: int, schedule: Schedule | None = None) -> list[int]:
            """Chains alive entering each step 0 … T − 1."""
            alive, counts = self.num_candidates, []
            checkpoints = set(self.checkpoint_steps(num_steps, schedule))
            for k in range(num_steps):
                counts.append(alive)
                if k in checkpoints:
                    alive = max(1, math.ceil(alive * self.keep - 1e-9))
            return counts

    def num_chains(self) -> int:
        return int(self.options.num_candidates)

    BUDGET_RULE: ClassVar[dict[str, Any]] = {"keep": 0.25, "checkpoint_fractions": [0.1]}
    """The pruning a budget starts from (fitted on the dev split); the chains take what it leaves."""

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        return _prune_budget(cls, model_calls, num_steps, given)

    def check(self, num_steps: int) -> None:
        _check_checkpoints(self.options, num_steps)

    def model_calls(self, num_steps: int, schedule: Schedule | None = None) -> int:
        o = self.options
        return chain_calls(o.live(num_steps, schedule), set(o.checkpoint_steps(num_steps, schedule)))

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        live = self.options.live(num_steps, schedule)
        pruned = sum(live[k + 1] != live[k] for k in range(num_steps - 1))
        return pruned + int(live[-1] > 1)  # each pruning checkpoint, and the final choice among survivors

    def start(self, tools: Toolbox) -> Step:
        return tools.start(self.num_chains(), pinned=True)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        live = self.options.live(tools.num_steps, tools.schedule)
        if k + 1 >= tools.num_steps or live[k + 1] == live[k]:
            return tools.plain(population, k)
        candidates = tools.propose(population, k, 1)  # x̂0 at k + 1 is needed by the next step anyway
        scores = tools.score_candidates(candidates, k) if tools.guiding else np.full(len(population), np.nan)
        return tools.keep_best(candidates, scores, keep=live[k + 1])


class Draft(Sampler):
    """Draft-then-commit: N cheap drafts, the best m regenerated at full quality from the same noise, best kept."""

    name = "draft"
    cost: ClassVar[str] = "N·S + m·(T − 1)"

    class Options(Sampler.Options):
        num_candidates: int = Field(8, ge=1, le=1024, description="Drafts N per video (one initial noise each).")
        num_commits: int = Field(1, ge=1, le=1024, description="Best drafts m regenerated at full quality.")
        draft_steps: int = Field(
            4, ge=1, le=1000, description="Model calls S per draft: a deterministic (eta = 0) S-step path to x̂0."
        )
        commit_eta: float | None = Field(
            0.0,
            ge=0.0,
            le=1.0,
            description="Stochasticity of the commits: 0 = the deterministic path the draft approximates, at full "
            "resolution (the commit follows its draft); None = the sampler's eta (each commit draws its chain's own "
            "noise and shares only the initial noise with its draft).",
        )
        draft_mode: Literal["few-step", "backbone"] = Field(
            "few-step",
            description="How drafts are made: few-step = draft_steps deterministic steps from the chain's initial "
            "noise (any backbone); backbone = the same steps under the backbone's cheap mode (e.g. a feature cache: "
            "diffusers `cache: {use: drafts}`), with draft_steps = sampler.num_steps the whole path the commit "
            "then replays at full quality.",
        )

    def num_chains(self) -> int:
        return int(self.options.num_candidates)

    BUDGET_RULE: ClassVar[dict[str, Any]] = {"draft_steps": 2}
    """The draft length a budget starts from (fitted on the dev split)."""

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        return _draft_budget(cls, model_calls, num_steps, given)

    def check(self, num_steps: int) -> None:
        _check_drafts(self.options, num_steps)

    def model_calls(self, num_steps: int) -> int:
        o = self.options
        return o.num_candidates * o.draft_steps + o.num_commits * (num_steps - 1)

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return 1 + int(self.options.num_commits > 1)  # the drafts, and the final choice among several commits

    def start(self, tools: Toolbox) -> Step:
        """Draft every chain, keep the initial noise of the best m (with the x̂0 the drafts computed for it)."""
        o = self.options
        noise = tools.start(o.num_candidates, pinned=True).population
        if not tools.guiding:  # nothing can rank the drafts: commit the first m
            return noise.first(o.num_commits)
        noise = tools.with_x0(noise, 0)
        drafts = finished_drafts(tools, noise, o.draft_steps - 1, o.draft_mode)
        return tools.keep_best(noise, tools.score(drafts, noise.video, 0), keep=o.num_commits)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        return tools.plain(population, k, self.options.commit_eta)


def finished_drafts(tools: Toolbox, noise: Population, steps: int, mode: str) -> torch.Tensor:
    """The finished drafts' x̂0, ``steps`` deterministic sub-steps from the chains' initial noise (x̂0 at level 0
    known), in draft ``mode`` (``few-step``, or ``backbone``: under the backbone's cheap mode).

    The seam for a backbone-provided draft mode: such a mode runs the chain's full stochastic path cheaply
    (e.g. under a feature cache) with the chain's own noise keys; the commit then replays the same keys at full
    quality, so it follows its draft.
    """
    if mode == "few-step":
        return tools.lookahead(noise, 0, steps)
    cheap = tools.backbone.draft_mode()
    if cheap is None:
        raise ConfigError(
            f"guidance.options.draft_mode 'backbone': backbone {tools.backbone.name!r} offers no cheap draft "
            "mode; use draft_mode: few-step, or give the backbone one (diffusers: cache: {type: first-block, "
            "use: drafts})"
        )
    tools.forget_rows()  # the drafts' cached state must not reach the full-quality commits, nor the reverse
    try:
        with cheap:
            return tools.lookahead(noise, 0, steps)
    finally:
        tools.forget_rows()


def _check_checkpoints(options: Prune.Options, num_steps: int) -> None:
    """Refuse checkpoints given as steps that are not steps 0 … T − 2 (the last step is the final choice)."""
    if options.checkpoints is not None and options.checkpoint_by == "step":
        bad = [c for c in options.checkpoints if c != int(c) or not 0 <= c <= num_steps - 2]
        if bad:
            raise ValueError(
                f"guidance.options.checkpoints: {bad} are not steps 0..{num_steps - 2} of sampler.num_steps="
                f"{num_steps} (the last step is the final choice); give whole step numbers in that range"
            )


def _check_drafts(options: Draft.Options, num_steps: int) -> None:
    """Refuse more commits than drafts, and drafts longer than the full path of ``num_steps`` steps."""
    if options.num_commits > options.num_candidates:
        raise ValueError(
            f"guidance.options.num_commits={options.num_commits} > num_candidates={options.num_candidates}: "
            "commit at most as many drafts as are made"
        )
    if options.draft_steps > num_steps:
        raise ValueError(
            f"guidance.options.draft_steps={options.draft_steps} > sampler.num_steps={num_steps}: a draft is a "
            "shorter path than the full one; lower draft_steps"
        )


def _prune_budget(cls: type[Prune], model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
    """BUDGET_RULE's keep and checkpoints, the most chains that fit; then the last checkpoint moves later, one step
    at a time, while the run still fits (spending the remainder on the chains that survive longest)."""
    checkpoints_given = "checkpoints" in given or "checkpoint_fractions" in given
    derived = {k: v for k, v in cls.BUDGET_RULE.items() if k not in given}
    if checkpoints_given:  # the checkpoints given replace the rule's
        derived.pop("checkpoint_fractions", None)
    if "num_candidates" not in given:
        size = largest_fitting(cls, "num_candidates", model_calls, num_steps, {**given, **derived})
        if size is None:
            raise too_small(cls.name, model_calls, num_steps)
        derived["num_candidates"] = size
    if checkpoints_given:
        return derived
    fractions = list(derived["checkpoint_fractions"])
    while fractions:
        later = [*fractions[:-1], round(min(fractions[-1] + 1 / num_steps, 1 - 0.5 / num_steps), 6)]
        options = cls.Options.model_validate({**given, **derived, "checkpoint_fractions": later})
        if later == fractions or cls(options).model_calls(num_steps) > model_calls:
            break
        fractions = later
    return {**derived, "checkpoint_fractions": fractions}


def _draft_budget(cls: type[Draft], model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
    """m = the most commits that fit beside as many drafts (given drafts: at most those); N = the most drafts
    that fit beside the m commits (one-call drafts when not even one draft and one commit of S calls fit)."""
    derived = {key: value for key, value in cls.BUDGET_RULE.items() if key not in given}
    options = {**derived, **given}
    if "num_commits" not in given:
        drafts = given.get("num_candidates")

        def fits(commits: int) -> bool:
            pool = drafts or commits
            within = options_cost(cls, {**options, "num_commits": commits, "num_candidates": pool}, num_steps)
            return commits <= pool and within <= model_calls

        commits = 1
        while fits(commits + 1):
            commits += 1
        derived["num_commits"] = options["num_commits"] = commits
    if "num_candidates" in given:
        return derived
    lower = int(options["num_commits"])
    size = largest_fitting(cls, "num_candidates", model_calls, num_steps, options, lower=lower)
    if size is None and "draft_steps" not in given:
        derived["draft_steps"] = options["draft_steps"] = 1
        size = largest_fitting(cls, "num_candidates", model_calls, num_steps, options, lower=lower)
    if size is None:
        raise too_small(cls.name, model_calls, num_steps)
    return {**derived, "num_candidates": size}


@hookimpl
def register_samplers(register: Register) -> None:
    register(Prune, aliases=("successive-halving",))
    register(Draft, aliases=("draft-commit",))
