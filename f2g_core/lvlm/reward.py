"""The base class of remote LVLM rewards: the Free²Guide protocol plus everything a remote call needs.

A provider plugin (OpenAI, Anthropic, …) only says how to create its client, how to send one request and what its
errors mean. This class does the rest, identically for every provider:

* builds the request of each candidate from a versioned template (labelled 2×2 grid or separate frames);
* scores from answer-token log-probabilities when the provider returns them, else from the parsed answer, with
  ``samples`` answers averaged;
* bounded concurrency: at most ``max_concurrency`` requests of this reward in flight, so the n candidates of a
  step are scored in parallel without flooding the server;
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
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image
from pydantic import Field, SecretStr
from tenacity import RetryCallState

from f2g_core.errors import ComponentError
from f2g_core.interfaces import AsyncReward, RewardBatch
from f2g_core.keys import redact, resolve_key
from f2g_core.lvlm.accounting import Budget, Price, PriceTable, Usage, nanmean
from f2g_core.lvlm.cache import AnswerCache, cache_key, default_cache_dir
from f2g_core.lvlm.encoding import images_hash, png_base64
from f2g_core.lvlm.parsing import AnswerScore, ParseFailure, TokenLogprob, score_answer
from f2g_core.lvlm.retry import Failure, RetryPolicy, classify_status
from f2g_core.lvlm.templates import ImageMode, Scale, ScoringPrompt, Template, build_prompt, resolve_template

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
    """What one candidate needs: its images, prompt and the cache key of each sample.

    The images are PNG-encoded only when a sample misses the cache, once for all samples and retries.
    """

    prompt: ScoringPrompt
    images: tuple[Image.Image, ...]
    labels: tuple[str, ...]
    scale: Scale
    keys: list[str]
    _png: tuple[str, ...] | None = None

    def request(self, sample: int) -> LVLMRequest:
        if self._png is None:
            self._png = tuple(png_base64(image) for image in self.images)
        return LVLMRequest(self.prompt, self.images, self._png, self.labels, self.scale, sample)


class LVLMOptions(AsyncReward.Options):
    """Options every remote LVLM reward shares (providers add their own)."""

    max_concurrency: int = Field(8, ge=1, description="Requests of this reward in flight at once (all candidates).")
    model: str = Field("", description="Model name; each provider sets its default.")
    scale: Scale = Field("1-9", description="Answer scale: '1-9' (score in [1, 9]) or 'yes-no' (P(yes) in [0, 1]).")
    template: str = Field("free2guide", description="Built-in prompt template (see f2g_core.lvlm.templates).")
    system_prompt: str | None = Field(None, description="Replace the template's system text ({layout}, …).")
    question: str | None = Field(None, description="Replace the template's question ({prompt}, …).")
    template_version: str | None = Field(None, description="Version label of custom wording (cache key, trace).")
    images: ImageMode = Field("grid", description="'grid': one labelled grid image; 'frames': one image per frame.")
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


class LVLMReward(AsyncReward):
    """Base class of remote LVLM rewards; subclasses implement :meth:`_make_client` and :meth:`_call`."""

    Options: ClassVar[type[LVLMOptions]] = LVLMOptions
    provider: ClassVar[str] = ""
    """Provider id in cache keys and key-store names (``openai``)."""
    key_env: ClassVar[str | None] = None
    """Environment variable holding the API key (``OPENAI_API_KEY``); None for servers without keys."""
    default_model: ClassVar[str] = ""

    options: LVLMOptions

    def __init__(self, options: LVLMOptions | None = None) -> None:
        super().__init__(options)
        if not self.options.model:
            self.options = self.options.model_copy(update={"model": self.default_model})
        opts = self.options
        # Validate the wording now, so a bad template is a configuration error, not a failure mid-video.
        self.template: Template = resolve_template(
            opts.template, opts.system_prompt, opts.question, opts.template_version
        )
        build_prompt(self.template, "check", opts.scale, 4, opts.images)
        if opts.template_version is None:  # the resolved config written next to outputs then names the version
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
        self._usage = Usage()
        self.budget = Budget(
            self._usage, opts.max_cost_usd, opts.max_calls, opts.max_total_cost_usd, opts.max_total_calls
        )
        self.last_details: list[dict[str, Any]] = []
        """Per-candidate details of the last scored batch (answers, probabilities, method), for debugging."""
        self._api_key: str | None = None
        self._loaded = False
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._limit: asyncio.Semaphore | None = None
        self._sync_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.options.model!r}, scale={self.options.scale!r})"

    # ------------------------------------------------------------------ provider hooks

    @abstractmethod
    def _make_client(self, api_key: str | None) -> Any:
        """Create the async API client (called once per event loop), with the client's own retries off."""

    @abstractmethod
    async def _call(self, client: Any, request: LVLMRequest) -> LVLMResponse:
        """Send one request; raise the SDK's errors unchanged (they are classified by :meth:`_classify`)."""

    def _provider_params(self) -> dict[str, Any]:
        """Provider parameters that change answers (base URL, image detail, seed …): part of the cache key."""
        return {}

    def _classify(self, exc: BaseException) -> Failure:
        """Transient (retry), permanent (NaN) or fatal (raise). Subclasses add their SDK's exception types.

        Anything unrecognised (a TypeError from a changed SDK signature, say) is fatal: a bug must surface, not
        turn every candidate into NaN.
        """
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and status >= 400:
            return classify_status(status)
        if isinstance(exc, TimeoutError | ConnectionError | ValueError):  # JSONDecodeError, MalformedResponse
            return Failure.TRANSIENT
        return Failure.FATAL

    def _resolve_api_key(self) -> str | None:
        """The key from options, the environment or the key store; ConfigError saying how to set it."""
        if self.options.api_key is not None:
            return self.options.api_key.get_secret_value()
        if self.key_env is None:
            return None
        return resolve_key(self.provider, self.key_env)

    # ------------------------------------------------------------------ lifecycle

    def _import_sdk(self) -> None:
        """Import the provider's SDK (heavy: ~1 s), so the first guided step does not pay for it."""

    def load(self) -> None:
        """Resolve the API key and import the SDK. Clients are made per event loop on first use (any loop works)."""
        if self._loaded:
            return
        self._api_key = self._resolve_api_key()
        self._import_sdk()
        self._loaded = True

    def usage(self) -> Mapping[str, float]:
        return self._usage.as_dict()

    def enter_run(self, run: int) -> None:
        self.budget.enter_run(run)

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
        """Close the client from inside its event loop."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None and hasattr(client, "close"):
            await client.close()

    def close(self) -> None:
        client, loop = self._client, self._client_loop
        self._client, self._client_loop, self._limit = None, None, None
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
            self._client = self._make_client(self._api_key)
            self._client_loop = loop
            self._limit = asyncio.Semaphore(self.options.max_concurrency)
        return self._client, self._limit

    # ------------------------------------------------------------------ planning

    def _plan(self, batch: RewardBatch, index: int) -> _Plan:
        opts = self.options
        frame_count = len(batch.frame_indices)
        if opts.images == "grid":
            images: tuple[Image.Image, ...] = (batch.grid(index),)
            labels: tuple[str, ...] = ("",)
        else:
            images = tuple(batch.pil_frames(index))
            labels = tuple(f"Frame {k + 1} of {frame_count}:" for k in range(frame_count))
        prompt = build_prompt(self.template, batch.prompt, opts.scale, frame_count, opts.images)
        digest = images_hash(images)
        keys = []
        for sample in range(opts.samples):
            key = cache_key(
                {
                    "provider": self.provider,
                    "model": opts.model,
                    "template": self.template.fingerprint,
                    "scale": opts.scale,
                    "images": opts.images,
                    "params": {
                        "temperature": opts.temperature,
                        "max_tokens": opts.max_tokens,
                        **self._provider_params(),
                    },
                    "image_hash": digest,
                    "prompt": batch.prompt,
                    "sample": sample,
                }
            )
            keys.append(key)
        return _Plan(prompt, images, labels, opts.scale, keys)

    def _uncached(self, plans: Sequence[_Plan]) -> int:
        return sum(1 for plan in plans for key in plan.keys if self.cache is None or key not in self.cache)

    # ------------------------------------------------------------------ scoring

    async def ascore(self, batch: RewardBatch) -> list[float]:
        """Score all candidates concurrently; the budget is checked for the whole step before any call."""
        self.load()
        plans = [self._plan(batch, i) for i in range(len(batch))]
        needed = self._uncached(plans)
        if needed:
            self.budget.check(needed, f"{self.name} reward")
        client, limit = self._loop_state()
        tasks = [asyncio.ensure_future(self._score_plan(client, limit, plan)) for plan in plans]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        self.last_details = [details for _, details in results]
        return [score for score, _ in results]

    async def score_candidate(self, batch: RewardBatch, index: int) -> float:
        self.load()
        plan = self._plan(batch, index)
        needed = self._uncached([plan])
        if needed:
            self.budget.check(needed, f"{self.name} reward")
        client, limit = self._loop_state()
        score, _ = await self._score_plan(client, limit, plan)
        return score

    async def _score_plan(self, client: Any, limit: asyncio.Semaphore, plan: _Plan) -> tuple[float, dict[str, Any]]:
        samples = (self._sample(client, limit, plan, sample, key) for sample, key in enumerate(plan.keys))
        answers = await asyncio.gather(*samples)
        values = [float(a["score"]) if a is not None else math.nan for a in answers]
        score = nanmean(values)
        if math.isnan(score):
            self._usage.nan_scores += 1
        return score, {"score": score, "answers": answers}

    async def _sample(
        self, client: Any, limit: asyncio.Semaphore, plan: _Plan, sample: int, key: str
    ) -> dict[str, Any] | None:
        """One answer: from the cache, or from the model (then cached). None when it could not be obtained."""
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None and isinstance(cached.get("score"), int | float) and math.isfinite(cached["score"]):
                self._usage.cache_hits += 1
                return {**cached, "cached": True}
        result = await self._answer(client, limit, plan.request(sample))
        if result is None:
            return None
        if result.method == "logprobs":
            self._usage.logprob_scores += 1
        else:
            self._usage.parsed_scores += 1
        entry = {
            "score": result.value,
            "answer": result.answer,
            "method": result.method,
            "probs": dict(result.probs) if result.probs else None,
            "model": self.options.model,
            "template": self.template.fingerprint,
        }
        if self.cache is not None:
            self.cache.put(key, entry)
        return {**entry, "cached": False}

    async def _answer(self, client: Any, limit: asyncio.Semaphore, request: LVLMRequest) -> AnswerScore | None:
        """Ask until the answer parses (``1 + parse_retries`` calls at most, within the budget)."""
        attempts = 1 + self.options.parse_retries
        for attempt in range(attempts):
            if attempt > 0 and not self.budget.allows(1):
                log.warning("%s reward: no budget left to re-ask an unparsable answer; scoring NaN", self.name)
                return None
            async with limit:
                response = await self._call_with_retries(client, request)
            if response is None:
                return None
            try:
                return score_answer(response.text, request.scale, response.tokens)
            except ParseFailure as exc:
                self._usage.parse_failures += 1
                level = logging.WARNING if attempt + 1 == attempts else logging.INFO
                log.log(level, "%s reward: %s (attempt %d of %d)", self.name, exc, attempt + 1, attempts)
        log.warning("%s reward: no parsable answer after %d calls; the candidate scores NaN", self.name, attempts)
        return None

    async def _call_with_retries(self, client: Any, request: LVLMRequest) -> LVLMResponse | None:
        """One call with retries of transient failures; None when it failed for good (counted, logged)."""

        def transient(exc: BaseException) -> bool:
            return self._classify(exc) is Failure.TRANSIENT

        def on_retry(state: RetryCallState) -> None:
            self._usage.retries += 1
            error = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            log.info("%s reward: retrying in %.2fs after %s", self.name, wait, self._describe(error))

        try:
            async for attempt in self.policy.retrying(transient, on_retry):
                with attempt:
                    self._usage.requests += 1
                    response = await self._call(client, request)
        except Exception as exc:
            kind = self._classify(exc)
            if kind is Failure.FATAL:
                raise ComponentError(self._fatal_message(exc)) from None
            self._usage.errors += 1
            log.warning("%s reward: request failed (%s): %s", self.name, kind.value, self._describe(exc))
            return None
        self._usage.calls += 1
        self._usage.input_tokens += response.input_tokens
        self._usage.output_tokens += response.output_tokens
        self._usage.cost_usd += self.prices.cost(self.options.model, response.input_tokens, response.output_tokens)
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
        where = self._endpoint()
        if status in (401, 403):
            how = f"`export {self.key_env}=...` or `f2g keys set {self.provider}`" if self.key_env else "its options"
            return f"{self.name} reward: {where} rejected the API key (HTTP {status}); set a valid key with {how}"
        if isinstance(status, int):
            model = self.options.model
            return f"{self.name} reward: {where} refused the request for model {model!r}: {self._describe(exc)}"
        return f"{self.name} reward: calling {where} failed unexpectedly: {self._describe(exc)}"

    def _endpoint(self) -> str:
        return f"the {self.provider} API"
