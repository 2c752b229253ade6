"""Built-in search methods, registered through ``register_samplers`` exactly like a third-party plugin's.

Each method's :meth:`step` reads top to bottom. Costs (denoiser calls per video, T = sampling steps):

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
from f2g_core.population import Population, Sampler, Step, groups
from f2g_core.randomness import FINAL_STEP, INIT_STEP
from f2g_core.selection import effective_sample_size, resample, select, tilted_log_weights

if TYPE_CHECKING:  # the loop imports torch; listing plugins must not
    import torch

    from f2g_core.interfaces import Schedule
    from f2g_core.sampling import Tools


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
        if _cost(cls, {**options, option: value}, num_steps) > model_calls:
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
                if _cost(cls, wider, num_steps) > _cost(cls, options, num_steps):
                    derived.update(num_candidates=size + 1, num_guided_steps=shorter)
    return derived


def _cost(cls: type[Sampler], options: dict[str, Any], num_steps: int) -> int:
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


def _in_window(options: _Window, k: int, tools: Tools) -> bool:
    return k in _guided_steps(options, tools.num_steps, tools.schedule)


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

    def step(self, tools: Tools, population: Population, k: int) -> Step:
        return tools.plain(population, k)


class Free2Guide(Sampler):
    """Free²Guide: at each guided step draw n candidate transitions, score their x̂0 key frames, keep the best."""

    name = "free2guide"
    cost: ClassVar[str] = "T + G·(n − 1) + G·n·L (+ n − 1 with initial_candidates)"

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

    BUDGET_RULE: ClassVar[dict[str, Any]] = {"num_candidates": 5}
    """The sizes a budget starts from (the paper's n); the window then takes what the budget allows."""

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        return _fit_window(cls, model_calls, num_steps, given, cls.BUDGET_RULE)

    def check(self, num_steps: int) -> None:
        _check_window(self.options, num_steps)

    def model_calls(self, num_steps: int, schedule: Schedule | None = None) -> int:
        o = self.options
        guided = len(_guided_steps(o, num_steps, schedule))
        extra = o.num_candidates - 1 if o.initial_candidates else 0
        return num_steps + guided * (o.num_candidates - 1) + guided * o.num_candidates * o.lookahead + extra

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return len(_guided_steps(self.options, num_steps, schedule)) + int(self.options.initial_candidates)

    def start(self, tools: Tools) -> Step:
        if not (self.options.initial_candidates and tools.guiding):
            return tools.start(1)
        candidates = tools.initial_candidates(self.options.num_candidates)
        scores = tools.score(_x0(candidates.population), candidates.population.video, 0)
        return self._keep_best(tools, candidates.population, candidates.parent, candidates.index, scores, INIT_STEP)

    def step(self, tools: Tools, population: Population, k: int) -> Step:
        if not (_in_window(self.options, k, tools) and tools.guiding):
            return tools.plain(population, k)
        if self.options.min_spread is not None and self.options.num_candidates > 2:
            return self._probe_first(tools, tools.with_x0(population, k), k)
        candidates = tools.propose(population, k, self.options.num_candidates)
        x0 = tools.lookahead(candidates.population, k + 1, self.options.lookahead)
        scores = tools.score(x0, candidates.population.video, k)
        return self._keep_best(tools, candidates.population, candidates.parent, candidates.index, scores, k)

    def _probe_first(self, tools: Tools, population: Population, k: int) -> Step:
        """Candidates 0 and 1 first; the other n − 2 only for rows whose two scores are min_spread apart or more."""
        probe = tools.propose(population, k, 2)
        x0 = tools.lookahead(probe.population, k + 1, self.options.lookahead)
        scores = tools.score(x0, probe.population.video, k)
        pairs = scores.reshape(-1, 2)
        told = np.flatnonzero(np.abs(pairs[:, 1] - pairs[:, 0]) >= self.options.min_spread)  # NaN: not told apart
        chosen_from = scores.copy()
        chosen_from.reshape(-1, 2)[np.setdiff1d(np.arange(len(population)), told)] = np.nan  # keep candidate 0
        if not len(told):
            return self._keep_best(tools, probe.population, probe.parent, probe.index, chosen_from, k)
        rest = tools.propose(population.take(told), k, self.options.num_candidates - 2, first=2)
        more = tools.score(tools.lookahead(rest.population, k + 1, self.options.lookahead), rest.population.video, k)
        pool = _concat(probe.population, rest.population)
        parent = np.concatenate([probe.parent, told[rest.parent]])
        index = np.concatenate([probe.index, rest.index])
        return self._keep_best(tools, pool, parent, index, np.concatenate([chosen_from, more]), k)

    def _keep_best(
        self, tools: Tools, pool: Population, parent: np.ndarray, index: np.ndarray, scores: np.ndarray, k: int
    ) -> Step:
        """Per parent row, the selected candidate (candidate 0, the plain transition, when none could be scored)."""
        picks = []
        for row in np.unique(parent):
            mine = np.flatnonzero(parent == row)
            rng = tools.rng(int(pool.video[mine[0]]), k)
            chosen = select(scores[mine], self.options.selection, self.options.temperature, rng)
            picks.append(mine[0 if chosen is None else chosen])
        rows = np.asarray(picks)
        return Step(pool.take(rows), parents=parent[rows], chosen=index[rows])


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

    def step(self, tools: Tools, population: Population, k: int) -> Step:
        return tools.plain(population, k)

    def finish(self, tools: Tools, population: Population) -> Step:
        return keep_best_finished(tools, population, self.options.selection, self.options.temperature)


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

    def num_chains(self) -> int:
        return int(self.options.num_particles)

    def check(self, num_steps: int) -> None:
        o = self.options
        if o.start >= num_steps:
            raise ValueError(
                f"guidance.options.start: {o.start} >= sampler.num_steps={num_steps}; steps are 0..{num_steps - 1}"
            )
        if o.stop is not None and o.stop > num_steps:
            raise ValueError(
                f"guidance.options.stop: {o.stop} > sampler.num_steps={num_steps}; use at most {num_steps}, or leave "
                "it unset to score through the last step"
            )

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        """The most particles that fit (k = ⌊budget / T⌋ without a funnel)."""
        return _fit_size(cls, "num_particles", model_calls, num_steps, given)

    def model_calls(self, num_steps: int) -> int:
        scored = {k for k in range(num_steps) if self._scored(k, num_steps)}
        return chain_calls(self.live(num_steps)[:num_steps], scored)

    def live(self, num_steps: int) -> list[int]:
        """Particles entering each step 0 … T − 1 and, last, after the final step (the funnel's schedule)."""
        o = self.options
        first, last = o.num_particles, o.final_particles or o.num_particles
        scored = [k for k in range(num_steps) if self._scored(k, num_steps)]
        counts, done = [first], 0
        for k in range(num_steps):
            done += k in scored
            counts.append(math.floor(first + (last - first) * done / max(len(scored), 1) + 0.5))
        return counts

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        scored = sum(self._scored(k, num_steps) for k in range(num_steps))
        final = self.options.num_particles > 1 and not self._scored(num_steps - 1, num_steps)
        return scored + int(final)  # the final choice rescores the particles unless the last step just did

    def _scored(self, k: int, num_steps: int) -> bool:
        o = self.options
        stop = num_steps if o.stop is None else o.stop
        return o.start <= k < stop and (k - o.start) % o.resample_every == 0

    def _beta(self, tools: Tools, level: int) -> float:
        """How much a reward scored at ``level`` is trusted (tempering)."""
        if self.options.tempering == "linear":
            return level / tools.num_steps
        if self.options.tempering == "sigma":
            return 1.0 - float(tools.schedule.level(level).sigma)
        return 1.0

    def step(self, tools: Tools, population: Population, k: int) -> Step:
        size = self.live(tools.num_steps)[k + 1]
        if not (self._scored(k, tools.num_steps) and tools.guiding):
            step = tools.plain(population, k)
            if size == len(population) // len(tools.videos):
                return step
            rows = np.concatenate([mine[:size] for _, mine in groups(population.video)])  # funnel, unguided
            return Step(step.population.take(rows), parents=rows)
        moved = tools.propose(population, k, 1).population
        reward = tools.score(_x0(moved), moved.video, k)
        phi, ref, logw = self._weights(moved, reward * self._beta(tools, k + 1))
        moved.memo.update(reward=reward, phi=phi, ref=ref, logw=logw)
        picks, ess, resampled = [], {}, {}
        for v, mine in groups(moved.video):
            ess[v] = effective_sample_size(logw[mine])
            low = ess[v] < self.options.ess_threshold * len(mine) or size < len(mine)
            resampled[v] = bool(np.isfinite(logw[mine]).any() and low)
            chosen = resample(logw[mine], self.options.resampling, tools.rng(v, k), size) if resampled[v] else None
            picks.append(mine[:size] if chosen is None else mine[chosen])
        rows = np.concatenate(picks)
        kept = moved.take(rows)
        for v, mine in groups(kept.video):
            if resampled[v]:  # equal weights again; the potential is measured from here on
                kept.memo["ref"][mine], kept.memo["logw"][mine] = kept.memo["phi"][mine], 0.0
        return Step(kept, parents=rows, chosen=np.zeros(len(rows), dtype=np.int64), ess=ess, resampled=resampled)

    def _weights(self, moved: Population, reward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Φ_t, the reference Φ at the last resampling, and the log weights λ(Φ_t − Φ_ref) of every particle, shifted
        per video so the largest is 0 (any finite λ, however large, then neither overflows nor loses the best)."""
        memo, lam = moved.memo, self.options.lam
        phi = {"difference": reward, "max": np.fmax(memo.get("phi", reward), reward), "sum": None}[
            self.options.potential
        ]
        if phi is None:
            phi = memo.get("phi", np.zeros_like(reward)) + reward
        ref = memo.get("ref", np.zeros_like(reward))
        logw = np.empty_like(reward)
        for _, mine in groups(moved.video):
            logw[mine] = tilted_log_weights(phi[mine] - ref[mine], lam)
        return phi, ref, logw

    def finish(self, tools: Tools, population: Population) -> Step:
        if len(population) == len(tools.videos):
            return Step(population, parents=np.arange(len(population)))
        memo, num_steps = population.memo, tools.num_steps
        if tools.guiding and self._scored(num_steps - 1, num_steps):
            reward = memo["reward"]  # the last step scored the finished particles already (x̂0 = x when clean)
        else:
            reward = tools.score(population.x, population.video, num_steps)
        logw = memo.get("logw", np.zeros(len(population)))
        picks = []
        for v, rows in groups(population.video):
            rng = tools.rng(v, FINAL_STEP)
            if self.options.final == "best":
                chosen = select(reward[rows], "argmax", 1.0, rng)
            else:  # a particle ∝ its weight since the last resampling (resampled particles weigh the same)
                chosen = select(np.where(np.isfinite(reward[rows]), logw[rows], np.nan), "soft", 1.0, rng)
            picks.append(rows[0 if chosen is None else chosen])
        rows = np.asarray(picks)
        return Step(population.take(rows), parents=rows, chosen=rows - _first_rows(population.video)[rows])


class Beam(Sampler):
    """Beam search: B beams × K candidates per guided step, the top B of all B·K kept (look-ahead optional)."""

    name = "beam"
    cost: ClassVar[str] = "B·T + G·B·(K − 1) + G·B·K·L"

    class Options(_Window):
        num_beams: int = Field(2, ge=1, le=256, description="Beams B kept per video.")
        num_candidates: int = Field(3, ge=1, le=256, description="Candidates K per beam per guided step.")

    BUDGET_RULE: ClassVar[dict[str, Any]] = {"num_beams": 2, "num_candidates": 3}
    """The sizes a budget starts from (fewer beams when B·T does not fit); the window takes what is left."""

    def num_chains(self) -> int:
        return int(self.options.num_beams)

    @classmethod
    def budget_options(cls, model_calls: int, num_steps: int, given: dict[str, Any]) -> dict[str, Any]:
        defaults = dict(cls.BUDGET_RULE)
        defaults["num_beams"] = max(1, min(defaults["num_beams"], model_calls // num_steps))
        return _fit_window(cls, model_calls, num_steps, given, defaults)

    def check(self, num_steps: int) -> None:
        _check_window(self.options, num_steps)

    def model_calls(self, num_steps: int, schedule: Schedule | None = None) -> int:
        o = self.options
        guided = len(_guided_steps(o, num_steps, schedule))
        b, c = o.num_beams, o.num_candidates
        return b * num_steps + guided * b * (c - 1) + guided * b * c * o.lookahead

    def planned_guided_steps(self, num_steps: int, schedule: Schedule | None = None) -> int:
        return len(_guided_steps(self.options, num_steps, schedule)) + int(self.options.num_beams > 1)

    def step(self, tools: Tools, population: Population, k: int) -> Step:
        if not (_in_window(self.options, k, tools) and tools.guiding):
            return tools.plain(population, k)
        candidates = tools.propose(population, k, self.options.num_candidates)
        pool = candidates.population
        scores = tools.score(tools.lookahead(pool, k + 1, self.options.lookahead), pool.video, k)
        picks = []
        for _, mine in groups(pool.video):
            if not np.isfinite(scores[mine]).any():  # nothing scored: every beam keeps its plain transition
                picks.extend(mine[candidates.index[mine] == 0])
                continue
            order = np.argsort(-np.where(np.isfinite(scores[mine]), scores[mine], -np.inf), kind="stable")
            picks.extend(np.sort(mine[order[: self.options.num_beams]]))
        rows = np.asarray(picks)
        return Step(pool.take(rows), parents=candidates.parent[rows], chosen=rows - _first_rows(pool.video)[rows])

    def finish(self, tools: Tools, population: Population) -> Step:
        if len(population) == len(tools.videos):
            return Step(population, parents=np.arange(len(population)))
        return keep_best_finished(tools, population)


def chain_calls(live: list[int], scored: set[int]) -> int:
    """Denoiser calls of a method whose chain count changes only at scored steps (``live[k]``: chains entering
    step k): level ℓ is denoised for the chains entering step ℓ, except right after a scored step, whose proposal
    already denoised level ℓ for the chains alive before that step's selection."""
    return sum(live[level - 1] if level - 1 in scored else live[level] for level in range(len(live)))


def keep_best_finished(
    tools: Tools, population: Population, selection: str = "argmax", temperature: float = 1.0
) -> Step:
    """Score every video's finished chains in one batch and keep one per video (chain 0 when none scored)."""
    scores = tools.score(population.x, population.video, tools.num_steps)
    picks = []
    for v, rows in groups(population.video):
        chosen = select(scores[rows], selection, temperature, tools.rng(v, FINAL_STEP))
        picks.append(rows[0 if chosen is None else chosen])
    rows = np.asarray(picks)
    return Step(population.take(rows), parents=rows, chosen=rows - _first_rows(population.video)[rows])


def _concat(first: Population, second: Population) -> Population:
    """The rows of both populations, ``first``'s before ``second``'s."""
    import torch

    assert first.x0 is not None and second.x0 is not None, "proposals carry their x̂0"
    return Population(
        x=torch.cat([first.x, second.x]),
        x0=torch.cat([first.x0, second.x0]),
        video=np.concatenate([first.video, second.video]),
        chain=np.concatenate([first.chain, second.chain]),
        memo={key: np.concatenate([value, second.memo[key]]) for key, value in first.memo.items()},
    )


def _x0(population: Population) -> torch.Tensor:
    assert population.x0 is not None, "proposals carry their x̂0"
    return population.x0


def _first_rows(video: np.ndarray) -> np.ndarray:
    """For every row, the first row of its video."""
    first = np.zeros(len(video), dtype=np.int64)
    for _, rows in groups(video):
        first[rows] = rows[0]
    return first


@hookimpl
def register_samplers(register: Register) -> None:
    register(Plain, aliases=("plain",))
    register(Free2Guide, aliases=("free2",))
    register(BestOfN, aliases=("best-of",))
    register(SMC, aliases=("fk-steering",))
    register(Beam, aliases=("beam-search",))
