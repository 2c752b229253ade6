"""The base class of remote LVLM rewards: the Free²Guide protocol plus everything a remote call needs.

A provider plugin (OpenAI, Anthropic, …) only says how to create its client, how to send one request and what its
errors mean — the public methods :meth:`LVLMReward.make_client`, :meth:`LVLMReward.send` and, when needed,
:meth:`LVLMReward.classify`, :meth:`LVLMReward.cache_params`, :meth:`LVLMReward.resolve_api_key`,
:meth:`LVLMReward.endpoint` and :meth:`LVLMReward.import_sdk` (:class:`~f2g_lvlm.sdk.SDKReward` implements most
of them for official SDKs shaped like ``openai``'s and ``anthropic``'s). This class does the rest, identically for
every provider:

* builds the request of each candidate from a versioned template (labelled 2×2 grid or separate frames);
* scores from answer-token log-probabilities when the provider returns them, else from the parsed answer, with
  ``samples`` answers averaged;
* bounded concurrency: at most ``max_concurrency`` requests of this reward in flight, so the n candidates of a
  step are scored in parallel without flooding the server;
* keeps the event loop free for the requests in flight: each candidate's grid, pixel hash, cache look-up and PNG
  encoding run in a worker thread (once per candidate, shared by its samples and retries);
* retries with exponential backoff and jitter honouring ``Retry-After`` on 429 / 5xx / timeouts / connection
  errors / malformed bodies; unparsable answers are asked again, then scored NaN (never a silent 0);
* an on-disk answer cache (a cached run makes zero calls);
* token and cost accounting, and a budget checked before each step's calls, raising
  :class:`~f2g_core.errors.BudgetExceeded` so the sampler finishes the video unguided;
* keys resolved at ``load()`` and never shown: options hold them as ``SecretStr`` and error texts are redacted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import Field, SecretStr, TypeAdapter, ValidationError

from f2g_core.config import HttpURL
from f2g_core.errors import ComponentError, ConfigError, CredentialsError
from f2g_core.interfaces import AsyncReward, RewardBatch
from f2g_core.keys import redact, resolve_key
from f2g_lvlm.accounting import CURRENT_RUN, Budget, Ledger, Price, PriceTable, nanmean
from f2g_lvlm.cache import AnswerCache, cache_key, default_cache_dir
from f2g_lvlm.encoding import images_hash, png_base64
from f2g_lvlm.parsing import AnswerScore, ParseFailure, TokenLogprob, score_answer
from f2g_lvlm.retry import Failure, RetryPolicy, classify_status
from f2g_lvlm.templates import Scale, ScoringPrompt, Template, TemplateOptions, build_prompt

if TYPE_CHECKING:
    from tenacity import RetryCallState

log = logging.getLogger("f2g.lvlm")


class MalformedResponse(ValueError):
    """The server answered 200 with a body that is not a usable completion (retried like a server error)."""


@dataclass(frozen=True)
class LVLMRequest:
    """One question to the model about one candidate."""

    prompt: ScoringPrompt
    images: tuple[Image.Image, ...]
    images_png: tuple[str, ...]
    """The images as base64 PNG, encoded once per candidate (not per sample or retry)."""
    labels: tuple[str, ...]
    """A caption per image (``"Frame 1 of 4"`` in ``frames`` mode; empty for the grid)."""
    scale: Scale
    sample: int
    """Which of the ``samples`` answers this is (0-based): varies the seed, keys the cache."""


@dataclass(frozen=True)
class LVLMResponse:
    """What the provider returned, in provider-neutral form."""

    text: str
    tokens: tuple[TokenLogprob, ...] | None = None
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class _Plan:
    """What one candidate needs: its images, prompt, the cache key of each sample and what the cache holds.

    Built in a worker thread (:meth:`LVLMReward._plan`); the PNGs exist only when a sample missed the cache, and
    are shared by all its samples and retries.
    """

    prompt: ScoringPrompt
    images: tuple[Image.Image, ...]
    labels: tuple[str, ...]
    scale: Scale
    keys: list[str]
    cached: list[dict[str, Any] | None]
    """The usable cache entry of each sample, None for a miss."""
    png: tuple[str, ...] = ()
    finite: bool = True
    """False when the candidate's frames are not all finite: it scores NaN without asking the model."""

    @property
    def misses(self) -> int:
        return sum(entry is None for entry in self.cached) if self.finite else 0

    def request(self, sample: int) -> LVLMRequest:
        return LVLMRequest(self.prompt, self.images, self.png, self.labels, self.scale, sample)


class LVLMOptions(AsyncReward.Options, TemplateOptions):
    """Options every remote LVLM reward shares (providers add their own)."""

    max_concurrency: int = Field(8, ge=1, description="Requests of this reward in flight at once (all candidates).")
    model: str = Field("", description="Model name; each provider sets its default.")
    temperature: float = Field(0.3, ge=0.0, le=2.0, description="Sampling temperature (paper: 0.3).")
    max_tokens: int = Field(400, ge=1, description="Room for the reasoning and the final answer.")
    samples: int = Field(1, ge=1, le=32, description="Answers per candidate, averaged (NaN answers skipped).")
    timeout: float = Field(60.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(4, ge=0, description="Retries of a request after transient failures.")
    backoff_initial: float = Field(1.0, ge=0, description="First backoff delay (s), doubled per retry.")
    backoff_max: float = Field(30.0, ge=0, description="Longest backoff delay (s).")
    backoff_jitter: float = Field(1.0, ge=0, description="Random jitter added to backoff delays (s).")
    max_retry_after: float = Field(120.0, ge=0, description="Longest Retry-After (s) honoured.")
    parse_retries: int = Field(2, ge=0, description="Extra calls when an answer cannot be parsed; then NaN.")
    cache: bool = Field(True, description="Cache answers on disk (keyed by model, template, images, prompt…).")
    cache_dir: Path | None = Field(None, description="Cache folder (default: $F2G_LVLM_CACHE_DIR or user cache).")
    max_cost_usd: float | None = Field(None, ge=0, description="Stop guiding a video before it spends more than this.")
    max_calls: int | None = Field(None, ge=0, description="Stop guiding a video before it makes more calls than this.")
    max_total_cost_usd: float | None = Field(
        None, ge=0, description="Pipeline-wide: stop guiding before all videos together spend more than this."
    )
    max_total_calls: int | None = Field(
        None, ge=0, description="Pipeline-wide: stop guiding before all videos together make more calls than this."
    )
    prices: dict[str, Price] = Field(default_factory=dict, description="Model → USD per 1M input/output tokens.")
    api_key: SecretStr | None = Field(
        None, description="API key (prefer the environment or `f2g keys set`; never written to configs or logs)."
    )
    api_key_env: str | None = Field(
        None, description="Environment variable holding the key (default: the provider's, e.g. OPENAI_API_KEY)."
    )
    base_url: HttpURL | None = Field(
        None,
        description="Endpoint: a proxy, gateway or compatible server (default: the provider's base-URL environment "
        "variable, e.g. OPENAI_BASE_URL, else the official API).",
    )


class LVLMReward(AsyncReward):
    """Base class of remote LVLM rewards: subclasses implement :meth:`make_client` and :meth:`send`.

    Class attributes say who the provider is: ``provider`` (id in cache keys and key-store names),
    ``display_name`` (in messages), ``key_env`` (the API key's environment variable, None for keyless servers),
    ``official_base_url`` and ``base_url_env`` (the default endpoint and the variable overriding it, as the
    provider's SDK reads it) and ``default_model``.
    """

    Options: ClassVar[type[LVLMOptions]] = LVLMOptions
    provider: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    key_env: ClassVar[str | None] = None
    official_base_url: ClassVar[str] = ""
    base_url_env: ClassVar[str | None] = None
    default_model: ClassVar[str] = ""

    options: LVLMOptions

    def __init__(self, options: LVLMOptions | None = None) -> None:
        super().__init__(options)
        opts = self.options
        # Fill in the provider's defaults so the resolved config written next to outputs says what was used.
        defaults = {"model": opts.model or self.default_model, "api_key_env": opts.api_key_env or self.key_env}
        self.options = opts = opts.model_copy(update=defaults)
        self.template: Template = opts.resolved_template()
        if opts.template_version is None:
            self.options = opts = opts.model_copy(update={"template_version": self.template.version})
        self.prices = PriceTable(opts.prices)
        self.policy = RetryPolicy(
            max_retries=opts.max_retries,
            initial=opts.backoff_initial,
            maximum=opts.backoff_max,
            jitter=opts.backoff_jitter,
            max_retry_after=opts.max_retry_after,
        )
        self.cache: AnswerCache | None = AnswerCache(opts.cache_dir or default_cache_dir()) if opts.cache else None
        self._ledger = Ledger()
        self.budget = Budget(
            self._ledger, opts.max_cost_usd, opts.max_calls, opts.max_total_cost_usd, opts.max_total_calls
        )
        self.last_details: list[dict[str, Any]] = []
        """Per-candidate details of the last scored batch (answers, probabilities, method), for debugging."""
        self._api_key: str | None = None
        self._loaded = False
        self._client: Any = None
        self._unused_client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._limit: asyncio.Semaphore | None = None
        self._sync_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.options.model!r}, scale={self.options.scale!r})"

    # ------------------------------------------------------------------ what a provider implements

    @abstractmethod
    def make_client(self, api_key: str | None) -> Any:
        """Create the async API client (called once per event loop), with the client's own retries off."""

    @abstractmethod
    async def send(self, client: Any, request: LVLMRequest) -> LVLMResponse:
        """Send one request; raise the SDK's errors unchanged (they are classified by :meth:`classify`).

        Raise :class:`MalformedResponse` for a 200 answer that is not a usable completion (it is retried).
        """

    def classify(self, exc: BaseException) -> Failure:
        """Transient (retry), permanent (NaN) or fatal (raise). Override to add the SDK's exception types.

        HTTP errors are classified by their ``status_code``; timeouts, connection errors and malformed bodies are
        transient. Anything unrecognised (a TypeError from a changed SDK signature, say) is fatal: a bug must
        surface, not turn every candidate into NaN.
        """
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and status >= 400:
            return classify_status(status)
        if isinstance(exc, TimeoutError | ConnectionError | ValueError):  # JSONDecodeError, MalformedResponse
            return Failure.TRANSIENT
        return Failure.FATAL

    def cache_params(self) -> dict[str, Any]:
        """Provider parameters that change answers (image detail, seed …): part of the cache key.

        Extend with ``{**super().cache_params(), ...}``; the endpoint is always included.
        """
        return {"base_url": self.base_url()}

    def import_sdk(self) -> None:
        """Import the provider's SDK at ``load()`` (heavy: ~1 s), so the first guided step does not pay for it."""

    def resolve_api_key(self) -> str | None:
        """The key from options, the environment or the key store; ConfigError saying how to set it."""
        if self.options.api_key is not None:
            return self.options.api_key.get_secret_value()
        if self.api_key_env is None:
            return None
        return resolve_key(self.provider, self.api_key_env)

    @property
    def api_key_env(self) -> str | None:
        """The environment variable holding the key: the ``api_key_env`` option, else the provider's."""
        return self.options.api_key_env or self.key_env

    def base_url(self) -> str:
        """The endpoint: the ``base_url`` option, else ``$<base_url_env>`` (as the SDK reads it), else the official."""
        env = os.environ.get(self.base_url_env) if self.base_url_env else None
        if env and not self.options.base_url:
            try:
                TypeAdapter(HttpURL).validate_python(env)
            except ValidationError as error:  # checked like the option: the SDK would fail obscurely later
                raise ConfigError(
                    f"${self.base_url_env}={env!r} is not an http(s) URL with a host (e.g. http://localhost:8000/v1); "
                    f"fix or unset it, or set the {self.name} reward's base_url option"
                ) from error
        return (self.options.base_url or env or self.official_base_url).rstrip("/")

    def is_official(self) -> bool:
        return self.base_url() == self.official_base_url.rstrip("/")

    def endpoint(self) -> str:
        """Where requests go, as error messages name it."""
        return (
            f"the {self.display_name or self.provider} API"
            if self.is_official()
            else f"the server at {self.base_url()}"
        )

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Resolve the API key, import the SDK and make the first client (TLS context and connection pool cost tens
        of milliseconds: not in the first guided step). Clients bind to the event loop that first uses them, so
        later loops get their own."""
        if self._loaded:
            return
        self._api_key = self.resolve_api_key()
        self.import_sdk()
        # What the first step would otherwise import on the event loop or a worker: retries and the PNG encoder.
        import tenacity  # noqa: F401
        from PIL import PngImagePlugin  # noqa: F401

        self._unused_client = self.make_client(self._api_key)
        self._loaded = True

    def usage(self) -> Mapping[str, float]:
        return self._ledger.total.as_dict()

    def run_usage(self, run: int) -> Mapping[str, float]:
        return self._ledger.run(run).as_dict()

    def trace_info(self) -> dict[str, Any]:
        """What produced the scores, for traces and reports: provider, model, template version, scale."""
        return {
            "provider": self.provider,
            "model": self.options.model,
            "template": self.template.fingerprint,
            "scale": self.options.scale,
            "images": self.options.images,
        }

    async def aclose(self) -> None:
        """Close the client: from inside the running loop when it was made there, else as :meth:`close` does."""
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            client, self._client, self._client_loop, self._limit = self._client, None, None, None
            if hasattr(client, "close"):
                await client.close()
        # A client of another, stopped loop (the one score() runs) is closed on that loop, which cannot run here.
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        client, loop = self._client, self._client_loop
        self._client, self._client_loop, self._limit, self._unused_client = None, None, None, None
        if client is not None and loop is not None and not loop.is_closed() and not loop.is_running():
            try:
                loop.run_until_complete(client.close())
            except Exception as exc:  # closing is best effort
                log.debug("closing %s client: %s", self.provider, type(exc).__name__)
        if self._sync_loop is not None and not self._sync_loop.is_running():
            self._sync_loop.close()
            self._sync_loop = None

    def score(self, batch: RewardBatch) -> list[float]:
        """Synchronous scoring on a private event loop kept across calls, so the client and its connections are
        reused (``asyncio.run`` per call would strand a client on every closed loop)."""
        if self._sync_loop is None or self._sync_loop.is_closed():
            self._sync_loop = asyncio.new_event_loop()
        return self._sync_loop.run_until_complete(self.ascore(batch))

    def _loop_state(self) -> tuple[Any, asyncio.Semaphore]:
        """Client and concurrency limit of the running loop (asyncio objects cannot cross event loops)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._limit is None:
            self._client, self._unused_client = self._unused_client or self.make_client(self._api_key), None
            self._client_loop = loop
            self._limit = asyncio.Semaphore(self.options.max_concurrency)
        return self._client, self._limit

    # ------------------------------------------------------------------ planning (in worker threads)

    def _plan(self, batch: RewardBatch, index: int) -> _Plan:
        """Images, prompt, cache keys and cache entries of one candidate, and its PNGs when a sample must be asked.

        CPU and disk work only (grid rendering, pixel hash, cache reads, PNG encoding): :meth:`ascore` runs it in
        a worker thread per candidate, so it neither blocks the requests already in flight nor runs one
        candidate after another (PIL, hashlib and zlib release the GIL).
        """
        opts = self.options
        frame_count = len(batch.frame_indices)
        prompt = build_prompt(self.template, batch.prompt, opts.scale, frame_count, opts.images)
        if not np.isfinite(batch.frames[index]).all():  # a failed decode: never let the model rate garbage
            return _Plan(prompt, (), (), opts.scale, [], [], finite=False)
        images, labels = self.images_for(batch, index)
        digest = images_hash(images)
        params = {"temperature": opts.temperature, "max_tokens": opts.max_tokens, **self.cache_params()}
        keys = [
            cache_key(
                {
                    "provider": self.provider,
                    "model": opts.model,
                    "template": self.template.fingerprint,
                    "scale": opts.scale,
                    "images": opts.images,
                    "params": params,
                    "image_hash": digest,
                    "prompt": batch.prompt,
                    "sample": sample,
                }
            )
            for sample in range(opts.samples)
        ]
        plan = _Plan(prompt, images, labels, opts.scale, keys, [self._cached(key) for key in keys])
        if plan.misses:
            plan.png = tuple(png_base64(image) for image in images)
        return plan

    def images_for(self, batch: RewardBatch, index: int) -> tuple[tuple[Image.Image, ...], tuple[str, ...]]:
        """The images shown for candidate ``index`` and a caption per image (empty: none). Override to show the
        frames a published judge expects (e.g. UnifiedReward-2.0's 16 evenly spaced frames)."""
        if self.options.images == "grid":
            return (batch.grid(index),), ("",)
        frame_count = len(batch.frame_indices)
        labels = tuple(f"Frame {k + 1} of {frame_count}:" for k in range(frame_count))
        return tuple(batch.pil_frames(index)), labels

    def score_reply(self, response: LVLMResponse, request: LVLMRequest) -> AnswerScore:
        """The score of one reply (ParseFailure when it has none): the template's answer on its scale, from the
        answer token's log-probabilities when present. Override for judges with their own reply format."""
        return score_answer(response.text, request.scale, response.tokens)

    def _cached(self, key: str) -> dict[str, Any] | None:
        entry = self.cache.get(key) if self.cache is not None else None
        if entry is not None and isinstance(entry.get("score"), int | float) and math.isfinite(entry["score"]):
            return entry
        return None

    async def _plans(self, batch: RewardBatch, indices: range) -> list[_Plan]:
        return list(await asyncio.gather(*(asyncio.to_thread(self._plan, batch, i) for i in indices)))

    # ------------------------------------------------------------------ scoring

    async def ascore(self, batch: RewardBatch) -> list[float]:
        """Score all candidates concurrently; the budget is checked for the whole step before any call."""
        self.load()
        token = CURRENT_RUN.set(batch.run)  # what this batch spends counts against its video run
        try:
            plans = await self._plans(batch, range(len(batch)))
            results = await self._score_plans(plans)
        finally:
            CURRENT_RUN.reset(token)
        self.last_details = [details for _, details in results]
        return [score for score, _ in results]

    async def score_candidate(self, batch: RewardBatch, index: int) -> float:
        self.load()
        token = CURRENT_RUN.set(batch.run)
        try:
            plans = await self._plans(batch, range(index, index + 1))
            ((score, _),) = await self._score_plans(plans)
        finally:
            CURRENT_RUN.reset(token)
        return score

    async def _score_plans(self, plans: list[_Plan]) -> list[tuple[float, dict[str, Any]]]:
        """Score the candidates of one step, all or none within the budget.

        A cost budget (the reward's, or an eval run's ``--max-cost-usd``) cannot price a call before one was made;
        then the first candidate that needs calls goes alone (a probe), and the rest of the step is sent only if
        it fits at the cost the probe measured. A step that does not fit raises :class:`BudgetExceeded` before its
        calls, so a cost budget is overshot by at most that one probe.
        """
        done: dict[int, tuple[float, dict[str, Any]]] = {}
        missing = [index for index, plan in enumerate(plans) if plan.misses]
        if len(missing) > 1 and (self.budget.cost_unknown() or self.shared_limits.cost_unknown()):
            done.update(await self._score_some(plans, missing[:1]))
        done.update(await self._score_some(plans, [i for i in range(len(plans)) if i not in done]))
        return [done[index] for index in range(len(plans))]

    async def _score_some(self, plans: list[_Plan], indices: list[int]) -> dict[int, tuple[float, dict[str, Any]]]:
        """Score ``plans[indices]`` concurrently once their calls are let through by the budget (else raise)."""
        needed = sum(plans[index].misses for index in indices)
        if needed:
            self.budget.check(needed, f"{self.name} reward")
        try:
            if needed:
                await self.shared_limits.reserve(needed, f"{self.name} reward")
            client, limit = self._loop_state()
            tasks = [asyncio.ensure_future(self._score_plan(client, limit, plans[index])) for index in indices]
            try:
                return dict(zip(indices, await asyncio.gather(*tasks), strict=True))
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        finally:
            if needed:
                self.budget.release()

    async def _score_plan(self, client: Any, limit: asyncio.Semaphore, plan: _Plan) -> tuple[float, dict[str, Any]]:
        if not plan.finite:
            self._ledger.add(nan_scores=1)
            return math.nan, {"score": math.nan, "answers": [], "skipped": "non-finite frames"}
        samples = (self._sample(client, limit, plan, sample) for sample in range(len(plan.keys)))
        answers = await asyncio.gather(*samples)
        values = [float(a["score"]) if a is not None else math.nan for a in answers]
        score = nanmean(values)
        if math.isnan(score):
            self._ledger.add(nan_scores=1)
        return score, {"score": score, "answers": answers}

    async def _sample(self, client: Any, limit: asyncio.Semaphore, plan: _Plan, sample: int) -> dict[str, Any] | None:
        """One answer: from the cache, or from the model (then cached). None when it could not be obtained."""
        cached = plan.cached[sample]
        if cached is not None:
            self._ledger.add(cache_hits=1)
            return {**cached, "cached": True}
        result = await self._answer(client, limit, plan.request(sample))
        if result is None:
            return None
        if result.method == "logprobs":
            self._ledger.add(logprob_scores=1)
        else:
            self._ledger.add(parsed_scores=1, logprob_fallbacks=int(result.logprobs_unusable))
        entry = {
            "score": result.value,
            "answer": result.answer,
            "method": result.method,
            "probs": dict(result.probs) if result.probs else None,
            "model": self.options.model,
            "template": self.template.fingerprint,
        }
        if self.cache is not None:
            await asyncio.to_thread(self.cache.put, plan.keys[sample], entry)
        return {**entry, "cached": False}

    async def _answer(self, client: Any, limit: asyncio.Semaphore, request: LVLMRequest) -> AnswerScore | None:
        """Ask until the answer parses (``1 + parse_retries`` calls at most, within the budget)."""
        attempts = 1 + self.options.parse_retries
        for attempt in range(attempts):
            if attempt > 0 and not self.budget.reserve(1):
                log.warning("%s reward: no budget left to re-ask an unparsable answer; scoring NaN", self.name)
                return None
            async with limit, self.shared_limits.slot():  # this reward's limit, then the eval run's shared one
                response = await self._call_with_retries(client, request)
            if response is None:
                return None
            try:
                return self.score_reply(response, request)
            except ParseFailure as exc:
                self._ledger.add(parse_failures=1)
                level = logging.WARNING if attempt + 1 == attempts else logging.INFO
                log.log(level, "%s reward: %s (attempt %d of %d)", self.name, exc, attempt + 1, attempts)
        log.warning("%s reward: no parsable answer after %d calls; the candidate scores NaN", self.name, attempts)
        return None

    async def _call_with_retries(self, client: Any, request: LVLMRequest) -> LVLMResponse | None:
        """One call with retries of transient failures; None when it failed for good (counted, logged)."""

        def transient(exc: BaseException) -> bool:
            return self.classify(exc) is Failure.TRANSIENT

        def on_retry(state: RetryCallState) -> None:
            self._ledger.add(retries=1)
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.info("%s reward: retrying in %.2fs after %s", self.name, wait, self._describe(error))

        try:
            async for attempt in self.policy.retrying(transient, on_retry):
                with attempt:
                    self._ledger.add(requests=1)
                    response = await self.send(client, request)
        except Exception as exc:
            kind = self.classify(exc)
            if kind is Failure.FATAL:
                rejected = getattr(exc, "status_code", None) in (401, 403)
                raise (CredentialsError if rejected else ComponentError)(self._fatal_message(exc)) from None
            self._ledger.add(errors=1)
            log.warning("%s reward: request failed (%s): %s", self.name, kind.value, self._describe(exc))
            return None
        cost = self.prices.cost(self.options.model, response.input_tokens, response.output_tokens)
        self._ledger.add(
            calls=1, input_tokens=response.input_tokens, output_tokens=response.output_tokens, cost_usd=cost
        )
        self.shared_limits.record_cost(cost)
        return response

    # ------------------------------------------------------------------ messages without secrets

    def _describe(self, exc: BaseException | None) -> str:
        if exc is None:
            return "unknown error"
        status = getattr(exc, "status_code", None)
        text = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {exc}"
        text = redact(text, [self._api_key])
        return text if len(text) <= 300 else text[:297] + "..."

    def _fatal_message(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        where = self.endpoint()
        if status in (401, 403):
            env = self.api_key_env
            how = f"`export {env}=...` or `f2g keys set {self.provider}`" if env else "its options"
            return f"{self.name} reward: {where} rejected the API key (HTTP {status}); set a valid key with {how}"
        if isinstance(status, int):
            model = self.options.model
            return f"{self.name} reward: {where} refused the request for model {model!r}: {self._describe(exc)}"
        return f"{self.name} reward: calling {where} failed unexpectedly: {self._describe(exc)}"
