"""The ``openai`` reward: an LVLM behind the OpenAI chat-completions API rates how well the video fits the prompt.

With the default model (gpt-4o) this is the paper's GPT-4o judge: labelled 2×2 key-frame grid, image detail
"low", temperature 0.3, score = expectation over the answer digit's log-probabilities. ``base_url`` points it at
any OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp, LM Studio) serving an open VLM such as Qwen2.5-VL;
such servers usually need no key, so a missing key is only an error for the official endpoint. The ``openai``
SDK is imported when the first client is made, never at plugin import.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from f2g_core.config import HttpURL
from f2g_core.errors import ConfigError
from f2g_core.lvlm.parsing import TokenLogprob
from f2g_core.lvlm.retry import Failure
from f2g_core.lvlm.reward import LVLMOptions, LVLMRequest, LVLMResponse, LVLMReward, MalformedResponse

OFFICIAL_BASE_URL = "https://api.openai.com/v1"


class OpenAIOptions(LVLMOptions):
    model: str = Field("gpt-4o", description="Model name (on a local server: the name it serves).")
    base_url: HttpURL | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
    detail: Literal["low", "high", "auto"] = Field("low", description="Image detail (paper: low).")
    seed: int | None = Field(None, description="Sampling seed sent to the API (sample k uses seed + k).")
    logprobs: bool = Field(True, description="Ask for log-probabilities and score their expectation.")
    top_logprobs: int = Field(20, ge=1, le=20, description="Alternatives per token (the answer digits).")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="Parameter name for max_tokens (newer OpenAI models want max_completion_tokens)."
    )
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the key.")


class OpenAIReward(LVLMReward):
    """GPT-4o (or any OpenAI-compatible VLM server) rates how well the key frames follow the prompt."""

    name = "openai"
    Options = OpenAIOptions
    provider = "openai"
    key_env = "OPENAI_API_KEY"
    default_model = "gpt-4o"

    options: OpenAIOptions

    def __init__(self, options: OpenAIOptions | None = None) -> None:
        super().__init__(options)
        self.key_env = self.options.api_key_env  # type: ignore[misc]

    def base_url(self) -> str:
        """The endpoint used: the option, else ``$OPENAI_BASE_URL`` (as the SDK reads it), else OpenAI's."""
        return (self.options.base_url or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_BASE_URL).rstrip("/")

    def _is_official(self) -> bool:
        return self.base_url() == OFFICIAL_BASE_URL

    def _resolve_api_key(self) -> str | None:
        try:
            return super()._resolve_api_key()
        except ConfigError:
            if self._is_official():
                raise
            return "not-needed"  # local OpenAI-compatible servers (vLLM, Ollama …) accept any key

    def _endpoint(self) -> str:
        return "the OpenAI API" if self._is_official() else f"the server at {self.base_url()}"

    def _provider_params(self) -> dict[str, Any]:
        o = self.options
        return {
            "base_url": self.base_url(),
            "detail": o.detail,
            "seed": o.seed,
            "logprobs": o.top_logprobs if o.logprobs else None,
        }

    def _import_sdk(self) -> None:
        import openai  # noqa: F401

    def _make_client(self, api_key: str | None) -> Any:
        import openai

        return openai.AsyncOpenAI(
            api_key=api_key, base_url=self.base_url(), timeout=self.options.timeout, max_retries=0
        )

    def _classify(self, exc: BaseException) -> Failure:
        import openai

        if isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError):
            return Failure.TRANSIENT  # timeouts, refused connections, bodies that are not a completion
        return super()._classify(exc)

    async def _call(self, client: Any, request: LVLMRequest) -> LVLMResponse:
        o = self.options
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt.question}]
        for label, png in zip(request.labels, request.images_png, strict=True):
            if label:
                content.append({"type": "text", "text": label})
            url = "data:image/png;base64," + png
            content.append({"type": "image_url", "image_url": {"url": url, "detail": o.detail}})
        kwargs: dict[str, Any] = {
            "model": o.model,
            "messages": [
                {"role": "system", "content": request.prompt.system},
                {"role": "user", "content": content},
            ],
            "temperature": o.temperature,
            o.max_tokens_param: o.max_tokens,
        }
        if o.seed is not None:
            kwargs["seed"] = o.seed + request.sample
        if o.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = o.top_logprobs
        completion = await client.chat.completions.create(**kwargs)
        return _to_response(completion)


def _to_response(completion: Any) -> LVLMResponse:
    """The text, answer-token alternatives and usage of a chat completion; MalformedResponse if it has none."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise MalformedResponse("chat completion without choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        raise MalformedResponse("chat completion without message content")
    tokens: tuple[TokenLogprob, ...] | None = None
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if content:
        tokens = tuple(
            TokenLogprob(
                str(t.token),
                float(t.logprob),
                {str(a.token): float(a.logprob) for a in (getattr(t, "top_logprobs", None) or [])},
            )
            for t in content
        )
    usage = getattr(completion, "usage", None)
    return LVLMResponse(
        text=text,
        tokens=tokens,
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )
