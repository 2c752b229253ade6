"""Built-in search methods, registered through ``register_samplers`` exactly like a third-party plugin's.

Each method's :meth:`step` reads top to bottom: propose, score, keep (the toolbox's ``keep_best`` / ``resample``).
Costs (denoiser calls per video, T = sampling steps):

* ``none``        T
* ``free2guide``  T + G·(n − 1) + G·n·L  (+ n − 1 with ``initial_candidates``), G guided steps, L ``lookahead``;
  with ``min_spread`` an upper bound (a skipped step costs 1 extra call instead of n − 1)
* ``best-of-n``   N·T
* ``smc``         k·T (with ``final_particles``: Σ over levels of the particles denoised there, see :func:`chain_calls`)
* ``beam``        B·T + G·B·(K − 1) + G·B·K·L
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from f2g_core.hookspecs import Register, hookimpl
from f2g_core.population import Candidates, Population, Sampler, Step, Toolbox, groups
from f2g_core.selection import tilted_log_weights

if TYPE_CHECKING:  # the loop imports torch; listing plugins must not
    import torch

    from f2g_core.interfaces import Schedule


def largest_fitting(
    cls: type[Sampler],
    option: str,
    model_calls: int,
    num_steps: int,
    options: dict[str, Any],
    lower: int = 1,
    upper: int = 1024,
) -> int | None:
    """The largest value of the integer ``option`` in lower … upper with which ``cls`` costs at most
    ``model_calls`` per video (the cost grows with it); None when even ``lower`` does not fit."""
    best = None
    for value in range(lower, upper + 1):
        if options_cost(cls, {**options, option: value}, num_steps) > model_calls:
            break
        best = value
    return best


def too_small(method: str, model_calls: int, num_steps: int) -> ValueError:
    """The error of a budget that cannot pay for even the cheapest run of ``method``."""
    return ValueError(
        f"{method} cannot run within {model_calls} model calls per video at sampler.num_steps={num_steps}; "
        "raise the budget or lower sampler.num_steps"
    )


def _fit_size(
    cls: type[Sampler], option: str, model_calls: int, num_steps: int, given: dict[str, Any]
) -> dict[str, Any]:
    """Budget rule of a method whose cost grows with one size option: the largest size that fits."""
    if option in given:
        return {}
    size = largest_fitting(cls, option, model_calls, num_steps, given)
    if size is None:
        raise too_small(cls.name, model_calls, num_steps)
    return {option: size}


def _fit_window(
    cls: type[Sampler], model_calls: int, num_steps: int, given: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """Budget rule of the window methods: the rule's fixed sizes (``defaults``), then the longest window that
    fits (from ``start``), then — when the window reaches the last guided step — the most candidates that fit."""
    if "sigma_min" in given or "sigma_max" in given:
        raise ValueError("a budget needs the guided window by step (start, num_guided_steps), not by noise level")
    derived = {key: value for key, value in defaults.items() if key not in given}
    options = {**derived, **given}
    cap = max(num_steps - 1 - int(options.get("start", 0)), 0)
    if "num_guided_steps" not in given:
        window = largest_fitting(cls, "num_guided_steps", model_calls, num_steps, options, lower=0, upper=cap)
        if window is None:
            raise too_small(cls.name, model_calls, num_steps)
        derived["num_guided_steps"] = options["num_guided_steps"] = window
        if window == cap and "num_candidates" not in given:
            most = largest_fitting(cls, "num_candidates", model_calls, num_steps, options) or 1
            size = max(most, options["num_candidates"])
            derived["num_candidates"] = options["num_candidates"] = size
            # one more candidate on a shorter window, if that spends more of the budget
            wider = {**options, "num_candidates": size + 1}
            shorter = largest_fitting(cls, "num_guided_steps", model_calls, num_steps, wider, lower=0, upper=cap)
            if shorter is not None:
                wider["num_guided_steps"] = shorter
                if options_cost(cls, wider, num_steps) > options_cost(cls, options, num_steps):
                    derived.update(num_candidates=size + 1, num_guided_steps=shorter)
    return derived


def options_cost(cls: type[Sampler], options: dict[str, Any], num_steps: int) -> int:
    """Model calls per video of ``cls`` with ``options`` at ``num_steps`` steps."""
    return cls(cls.Options.model_validate(options)).model_calls(num_steps)


class _Window(Sampler.Options):
    """Options shared by the methods that guide a window of consecutive steps."""

    start: int = Field(0, ge=0, description="First guided step (0 = the first, noisiest step).")
    num_guided_steps: int = Field(6, ge=0, description="How many consecutive steps are guided (paper: 6 of 50).")
    lookahead: int = Field(
        0, ge=0, le=50, description="Deterministic sub-steps behind each candidate's x̂0 (DLBS); 0 = one Tweedie step."
    )
    sigma_max: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="The window by noise level instead of start / num_guided_steps: guide the steps whose starting "
        "σ_k is ≤ sigma_max and ≥ sigma_min (σ runs from 1, noise, to 0, clean); None = by step.",
    )
    sigma_min: float | None = Field(None, ge=0.0, le=1.0, description="Lower end of the σ window (None = 0).")

    @model_validator(mode="after")
    def _one_window(self) -> _Window:
        by_sigma = self.sigma_max is not None or self.sigma_min is not None
        if by_sigma and {"start", "num_guided_steps"} & self.model_fields_set:
            raise ValueError(
                "give the guided window by step (start, num_guided_steps) or by noise level (sigma_min, sigma_max), "
                "not both"
            )
        return self


def _guided_steps(options: _Window, num_steps: int, schedule: Schedule | None = None) -> list[int]:
    """The guided steps: the step window, or the steps 0 … T − 2 whose starting σ lies in the σ window."""
    if options.sigma_max is None and options.sigma_min is None:
        return list(range(options.start, min(options.start + options.num_guided_steps, num_steps - 1)))
    if schedule is None:
        raise ValueError("guidance.options.sigma_min / sigma_max: the guided steps depend on the backbone's schedule")
    low, high = options.sigma_min or 0.0, 1.0 if options.sigma_max is None else options.sigma_max
    return [k for k in range(num_steps - 1) if low <= schedule.sigmas[k] <= high]


def _check_window(options: _Window, num_steps: int) -> None:
    if options.sigma_max is not None or options.sigma_min is not None:
        return
    last = options.start + options.num_guided_steps - 1
    if options.num_guided_steps and last > num_steps - 2:
        raise ValueError(
            f"guidance.options: steps {options.start}..{last} are guided but only steps 0..{num_steps - 2} of "
            f"sampler.num_steps={num_steps} can be (the last step is deterministic); lower start or num_guided_steps"
        )


class _WindowMethod(Sampler):
    """A method that proposes n candidates per chain at each step of a guided window: the cost, the planned
    scorings, the option check and the budget rule Free²Guide and beam search share."""

    BUDGET_RULE: ClassVar[dict[str, Any]] = {}
    """The sizes a budget starts from; the window then takes what the budget allows."""

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        return _fit_window(cls, model_calls, num_steps, given, cls.BUDGET_RULE)

    def check(self, num_steps: int) -> None:
        _check_window(self.options, num_steps)

    def guides(self, tools: Toolbox, k: int) -> bool:
        """Whether step ``k`` is in the window and some video is still guided."""
        return k in _guided_steps(self.options, tools.num_steps, tools.schedule) and tools.guiding

    def model_calls(self, num_steps: int, schedule: Schedule | None = None) -> int:
        o, b = self.options, self.num_chains()
        guided = len(_guided_steps(o, num_steps, schedule))
        return b * num_steps + guided * b * (o.num_candidates - 1) + guided * b * o.num_candidates * o.lookahead

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return len(_guided_steps(self.options, num_steps, schedule)) + int(self.num_chains() > 1)


class Plain(Sampler):
    """Plain stochastic sampling, no rewards: one chain per video."""

    name = "none"
    cost: ClassVar[str] = "T"
    needs_rewards = False
    size_option = None

    def model_calls(self, num_steps: int) -> int:
        return num_steps

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return 0

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        """No options: plain sampling costs T, which must fit."""
        if num_steps > model_calls:
            raise too_small(cls.name, model_calls, num_steps)
        return {}

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        return tools.plain(population, k)


class Free2Guide(_WindowMethod):
    """Free²Guide: at each guided step draw n candidate transitions, score their x̂0 key frames, keep the best."""

    name = "free2guide"
    cost: ClassVar[str] = "T + G·(n − 1) + G·n·L (+ n − 1 with initial_candidates)"
    BUDGET_RULE: ClassVar[dict[str, Any]] = {"num_candidates": 5}  # the paper's n

    class Options(_Window):
        num_candidates: int = Field(5, ge=1, le=1024, description="Candidates n per guided step.")
        selection: Literal["argmax", "soft"] = Field(
            "argmax", description="argmax (λ → 0) or soft: sample a candidate ∝ exp(r/λ)."
        )
        temperature: float = Field(
            1.0, gt=0.0, allow_inf_nan=False, description="λ for soft selection (finite; small λ approaches argmax)."
        )
        initial_candidates: bool = Field(
            False, description="Also score n initial noises and start from the best (the official code's variant)."
        )
        min_spread: float | None = Field(
            None,
            ge=0.0,
            description="Skip guided steps whose candidates cannot be told apart: score two candidates first and, "
            "when their combined rewards differ by less than this, keep the plain one without drawing the other "
            "n − 2 (a skipped step costs 1 extra model call instead of n − 1); None = never skip (the paper).",
        )

    def model_calls(self, num_steps: int, schedule: Schedule | None = None) -> int:
        initial = (self.options.num_candidates - 1) * self.options.initial_candidates
        return super().model_calls(num_steps, schedule) + initial

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return super().planned_guided_steps(num_steps, schedule) + int(self.options.initial_candidates)

    def start(self, tools: Toolbox) -> Step:
        o = self.options
        if not (o.initial_candidates and tools.guiding):
            return tools.start(1)
        candidates = tools.initial_candidates(o.num_candidates)
        scores = tools.score(_x0(candidates), candidates.population.video, 0)
        return tools.keep_best(candidates, scores, 1, o.selection, o.temperature)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        o = self.options
        if not self.guides(tools, k):
            return tools.plain(population, k)
        probe = o.min_spread is not None and o.num_candidates > 2  # candidates 0 and 1 first
        population = tools.with_x0(population, k)
        candidates = tools.propose(population, k, 2 if probe else o.num_candidates)
        scores = tools.score_candidates(candidates, k, o.lookahead)
        if probe:  # the other n − 2 only for rows whose two scores are min_spread apart or more
            pairs = scores.reshape(-1, 2)
            told = np.flatnonzero(np.abs(pairs[:, 1] - pairs[:, 0]) >= o.min_spread)  # NaN: not told apart
            pairs[np.setdiff1d(np.arange(len(population)), told)] = np.nan  # nothing scored: candidate 0 is kept
            if len(told):
                rest = tools.propose(population.take(told), k, o.num_candidates - 2, first=2)
                candidates = candidates.join(rest, told)
                scores = np.concatenate([scores, tools.score_candidates(rest, k, o.lookahead)])
        return tools.keep_best(candidates, scores, 1, o.selection, o.temperature)


class BestOfN(Sampler):
    """Best-of-N: N whole chains per video in one batched denoiser call per step, the best finished video kept."""

    name = "best-of-n"
    cost: ClassVar[str] = "N·T"

    class Options(Sampler.Options):
        num_candidates: int = Field(5, ge=1, le=1024, description="Chains N per video.")
        selection: Literal["argmax", "soft"] = Field("argmax", description="argmax, or soft: sample ∝ exp(r/λ).")
        temperature: float = Field(
            1.0, gt=0.0, allow_inf_nan=False, description="λ for soft selection (finite; small λ approaches argmax)."
        )

    def num_chains(self) -> int:
        return int(self.options.num_candidates)

    def model_calls(self, num_steps: int) -> int:
        return self.options.num_candidates * num_steps

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return 1  # the finished chains

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        """N = ⌊budget / T⌋."""
        return _fit_size(cls, "num_candidates", model_calls, num_steps, given)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        return tools.plain(population, k)

    def finish(self, tools: Toolbox, population: Population) -> Step:
        o = self.options  # scores even a lone chain: best-of-1 reports its video's reward
        return tools.keep_best(population, tools.score_finished(population), 1, o.selection, o.temperature)


class SMC(Sampler):
    """Feynman–Kac steering (SMC): k particles weighted by a reward potential on x̂0, resampled when ESS is low."""

    name = "smc"
    cost: ClassVar[str] = "k·T; with final_particles, Σ_ℓ particles alive at level ℓ"
    size_option = "num_particles"

    class Options(Sampler.Options):
        num_particles: int = Field(4, ge=1, le=1024, description="Particles k per video.")
        potential: Literal["difference", "max", "sum"] = Field(
            "difference",
            description="Φ along a particle's path: the latest reward (difference: weights exp(λ(r_t − r_s))), "
            "its running max, or its running sum; weights are exp(λ(Φ_t − Φ at the last resampling)).",
        )
        lam: float = Field(
            10.0,
            gt=0.0,
            allow_inf_nan=False,
            description="λ: how strongly the reward tilts the particles (finite; a very large λ puts all the weight "
            "on the best particle, i.e. greedy selection).",
        )
        resample_every: int = Field(1, ge=1, description="Score and (maybe) resample every this many steps.")
        start: int = Field(0, ge=0, description="First step of the scoring window.")
        stop: int | None = Field(
            None, ge=1, description="Steps < stop are scored; None = every step through the last one."
        )
        ess_threshold: float = Field(
            0.5, ge=0.0, le=1.0, description="Resample when ESS < this × k (1 = at every scoring step, 0 = never)."
        )
        resampling: Literal["multinomial", "systematic", "ssp"] = Field(
            "systematic",
            description="Resampling scheme: multinomial, systematic (one uniform) or ssp (each particle gets the "
            "floor or ceiling of its expected copies: the lowest-variance choice).",
        )
        final_particles: int | None = Field(
            None,
            ge=1,
            le=1024,
            description="Funnel: the particle count shrinks linearly over the scored steps from num_particles to "
            "this (resampling at every step where it shrinks); None = constant.",
        )
        tempering: Literal["none", "linear", "sigma"] = Field(
            "none",
            description="Trust early rewards less: a reward scored at level ℓ enters the potential × β_ℓ, with "
            "β = ℓ/T (linear) or 1 − σ_ℓ (sigma); β = 1 at the clean level, so the target is unchanged.",
        )
        final: Literal["best", "sample"] = Field(
            "best", description="Keep the particle with the best reward, or sample one ∝ its weight."
        )

        @model_validator(mode="after")
        def _window(self) -> SMC.Options:
            if self.stop is not None and self.stop <= self.start:
                raise ValueError(
                    f"stop={self.stop} must be greater than start={self.start}: steps start <= k < stop are scored, "
                    "so this window is empty; raise stop or lower start"
                )
            return self

        def scored(self, k: int, num_steps: int) -> bool:
            """Whether step ``k`` scores (and may resample) the particles."""
            stop = num_steps if self.stop is None else self.stop
            return self.start <= k < stop and (k - self.start) % self.resample_every == 0

        def live(self, num_steps: int) -> list[int]:
            """Particles entering each step 0 … T − 1 and, last, after the final step (the funnel's schedule)."""
            first, last = self.num_particles, self.final_particles or self.num_particles
            scored = [k for k in range(num_steps) if self.scored(k, num_steps)]
            counts, done = [first], 0
            for k in range(num_steps):
                done += k in scored
                counts.append(math.floor(first + (last - first) * done / max(len(scored), 1) + 0.5))
            return counts

        def beta(self, level: int, schedule: Schedule) -> float:
            """How much a reward scored at ``level`` is trusted (tempering)."""
            if self.tempering == "linear":
                return level / schedule.num_steps
            return 1.0 - float(schedule.level(level).sigma) if self.tempering == "sigma" else 1.0

    def num_chains(self) -> int:
        return int(self.options.num_particles)

    def check(self, num_steps: int) -> None:
        _check_scored_window(self.options, num_steps)

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        """The most particles that fit (k = ⌊budget / T⌋ without a funnel)."""
        return _fit_size(cls, "num_particles", model_calls, num_steps, given)

    def model_calls(self, num_steps: int) -> int:
        scored = {k for k in range(num_steps) if self.options.scored(k, num_steps)}
        return chain_calls(self.options.live(num_steps)[:num_steps], scored)

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        o, scored = self.options, sum(self.options.scored(k, num_steps) for k in range(num_steps))
        return scored + int(o.num_particles > 1 and not o.scored(num_steps - 1, num_steps))  # the final choice

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        o, size = self.options, self.options.live(tools.num_steps)[k + 1]
        if not (o.scored(k, tools.num_steps) and tools.guiding):  # plain moves keep the rows: the funnel drops some
            return tools.plain(population, k).population.first(size)
        candidates = tools.propose(population, k, 1)
        reward = tools.score_candidates(candidates, k)
        logw = weigh(candidates.population, reward, o.beta(k + 1, tools.schedule), o.potential, o.lam)
        return restart_weights(tools.resample(candidates, logw, o.resampling, size, o.ess_threshold))

    def finish(self, tools: Toolbox, population: Population) -> Step:
        if len(population) == tools.num_videos:
            return population.first(1)
        return _final_particle(tools, population, self.options)


class Beam(_WindowMethod):
    """Beam search: B beams × K candidates per guided step, the top B of all B·K kept (look-ahead optional)."""

    name = "beam"
    cost: ClassVar[str] = "B·T + G·B·(K − 1) + G·B·K·L"
    BUDGET_RULE: ClassVar[dict[str, Any]] = {"num_beams": 2, "num_candidates": 3}  # fewer beams when B·T > budget

    class Options(_Window):
        num_beams: int = Field(2, ge=1, le=256, description="Beams B kept per video.")
        num_candidates: int = Field(3, ge=1, le=256, description="Candidates K per beam per guided step.")

    def num_chains(self) -> int:
        return int(self.options.num_beams)

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        rule = {**cls.BUDGET_RULE, "num_beams": max(1, min(cls.BUDGET_RULE["num_beams"], model_calls // num_steps))}
        return _fit_window(cls, model_calls, num_steps, given, rule)

    def step(self, tools: Toolbox, population: Population, k: int) -> Step:
        if not self.guides(tools, k):
            return tools.plain(population, k)
        candidates = tools.propose(population, k, self.options.num_candidates)
        scores = tools.score_candidates(candidates, k, self.options.lookahead)
        return tools.keep_best(candidates, scores, keep=self.options.num_beams)  # plain beams if nothing scored


def potential_weights(particles: Population, reward: np.ndarray, potential: str, lam: float) -> dict[str, np.ndarray]:
    """SMC's ``phi`` (Φ_t), ``ref`` (Φ at the last resampling) and ``logw`` (λ(Φ_t − Φ_ref)) of every particle, from
    its new ``reward`` and the Φ and reference its memo carries; the log weights are shifted per video so the largest
    is 0 (any finite λ, however large, then neither overflows nor loses the best)."""
    memo, ref = particles.memo, particles.memo.get("ref", np.zeros_like(reward))
    phi = {
        "difference": reward,
        "max": np.fmax(memo.get("phi", reward), reward),
        "sum": memo.get("phi", np.zeros_like(reward)) + reward,
    }[potential]
    logw = np.empty_like(reward)
    for _, mine in groups(particles.video):
        logw[mine] = tilted_log_weights(phi[mine] - ref[mine], lam)
    return {"phi": phi, "ref": ref, "logw": logw}


def weigh(particles: Population, reward: np.ndarray, beta: float, potential: str, lam: float) -> np.ndarray:
    """Weigh SMC's particles by their new ``reward``: the reward (``memo["reward"]``, for the final choice) and
    :func:`potential_weights` of the reward tempered by ``beta`` go into their memo; returns the log weights."""
    particles.memo.update(reward=reward, **potential_weights(particles, reward * beta, potential, lam))
    return particles.memo["logw"]


def restart_weights(step: Step) -> Step:
    """``step`` with equal weights again for every video it resampled: from there on each particle's potential is
    measured from its value at this resampling (``ref`` = Φ, log weight 0)."""
    memo = step.population.memo
    for v, mine in groups(step.population.video):
        if step.resampled and step.resampled[v]:
            memo["ref"][mine], memo["logw"][mine] = memo["phi"][mine], 0.0
    return step


def _final_particle(tools: Toolbox, population: Population, options: SMC.Options) -> Step:
    """SMC's final choice of one particle per video: the best reward (reusing the last step's scores when that
    step scored the finished particles: x̂0 was x) or, with ``final: sample``, one drawn ∝ its weight since the
    last resampling (a particle that failed to score never wins)."""
    scored = tools.guiding and options.scored(tools.num_steps - 1, tools.num_steps)
    reward = population.memo["reward"] if scored else tools.score_finished(population)
    if options.final == "best":
        return tools.keep_best(population, reward)
    weight = np.where(np.isfinite(reward), population.memo.get("logw", np.zeros(len(population))), np.nan)
    return tools.keep_best(population, weight, selection="soft")


def _check_scored_window(options: SMC.Options, num_steps: int) -> None:
    """Refuse an SMC scoring window (``start`` … ``stop``) that does not fit ``num_steps`` sampling steps."""
    if options.start >= num_steps:
        raise ValueError(
            f"guidance.options.start: {options.start} >= sampler.num_steps={num_steps}; steps are 0..{num_steps - 1}"
        )
    if options.stop is not None and options.stop > num_steps:
        raise ValueError(
            f"guidance.options.stop: {options.stop} > sampler.num_steps={num_steps}; use at most {num_steps}, or "
            "leave it unset to score through the last step"
        )


def chain_calls(live: list[int], scored: set[int]) -> int:
    """Denoiser calls of a method whose chain count changes only at scored steps (``live[k]``: chains entering
    step k): level ℓ is denoised for the chains entering step ℓ, except right after a scored step, whose proposal
    already denoised level ℓ for the chains alive before that step's selection."""
    return sum(live[level - 1] if level - 1 in scored else live[level] for level in range(len(live)))


def _x0(candidates: Candidates) -> torch.Tensor:
    assert candidates.population.x0 is not None, "proposals carry their x̂0"
    return candidates.population.x0


@hookimpl
def register_samplers(register: Register) -> None:
    register(Plain, aliases=("plain",))
    register(Free2Guide, aliases=("free2",))
    register(BestOfN, aliases=("best-of",))
    register(SMC, aliases=("fk-steering",))
    register(Beam, aliases=("beam-search",))
