"""The ``openai`` reward: an LVLM behind the OpenAI chat-completions API rates how well the video fits the prompt.

With the default model (gpt-4o) this is the paper's GPT-4o judge: labelled 2×2 key-frame grid, image detail
"low", temperature 0.3, score = expectation over the answer digit's log-probabilities. ``base_url`` points it at
any OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp, LM Studio) serving an open VLM such as Qwen2.5-VL;
such servers usually need no key, so a missing key is only an error for the official endpoint. The ``openai``
SDK is imported when the first client is made, never at plugin import.
"""

from __future__ import annotations

from typing import Any, Literal

from f2g_lvlm.parsing import TokenLogprob
from f2g_lvlm.reward import LVLMOptions, LVLMRequest, LVLMResponse, MalformedResponse
from f2g_lvlm.sdk import SDKReward
from pydantic import Field

from f2g_core.errors import ConfigError


class OpenAIOptions(LVLMOptions):
    model: str = Field("gpt-4o", description="Model name (on a local server: the name it serves).")
    detail: Literal["low", "high", "auto"] = Field("low", description="Image detail (paper: low).")
    seed: int | None = Field(None, description="Sampling seed sent to the API (sample k uses seed + k).")
    logprobs: bool = Field(True, description="Ask for log-probabilities and score their expectation.")
    top_logprobs: int = Field(20, ge=1, le=20, description="Alternatives per token (the answer digits).")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="Parameter name for max_tokens (newer OpenAI models want max_completion_tokens)."
    )


class OpenAIReward(SDKReward):
    """GPT-4o (or any OpenAI-compatible VLM server) rates how well the key frames follow the prompt."""

    name = "openai"
    Options = OpenAIOptions
    provider = "openai"
    display_name = "OpenAI"
    key_env = "OPENAI_API_KEY"
    official_base_url = "https://api.openai.com/v1"
    base_url_env = "OPENAI_BASE_URL"
    default_model = "gpt-4o"
    sdk_module = "openai"
    client_class = "AsyncOpenAI"

    options: OpenAIOptions

    def resolve_api_key(self) -> str | None:
        try:
            return super().resolve_api_key()
        except ConfigError:
            if self.is_official():
                raise
            return "not-needed"  # local OpenAI-compatible servers (vLLM, Ollama …) accept any key

    def cache_params(self) -> dict[str, Any]:
        o = self.options
        logprobs = o.top_logprobs if o.logprobs else None
        return {**super().cache_params(), "detail": o.detail, "seed": o.seed, "logprobs": logprobs}

    def user_content(self, request: LVLMRequest) -> list[dict[str, Any]]:
        """The user turn: the question, then each image (after its caption). Judges trained on another order
        override this."""
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt.question}]
        return content + self.image_parts(request)

    def image_parts(self, request: LVLMRequest) -> list[dict[str, Any]]:
        """Each image as a PNG data URL, after its caption when it has one."""
        parts: list[dict[str, Any]] = []
        for label, png in zip(request.labels, request.images_png, strict=True):
            if label:
                parts.append({"type": "text", "text": label})
            url = "data:image/png;base64," + png
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": self.options.detail}})
        return parts

    async def send(self, client: Any, request: LVLMRequest) -> LVLMResponse:
        o = self.options
        system = [{"role": "system", "content": request.prompt.system}] if request.prompt.system else []
        kwargs: dict[str, Any] = {
            "model": o.model,
            "messages": [*system, {"role": "user", "content": self.user_content(request)}],
            "temperature": o.temperature,
            o.max_tokens_param: o.max_tokens,
        }
        if o.seed is not None:
            kwargs["seed"] = o.seed + request.sample
        if o.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = o.top_logprobs
        from openai.types.chat import ChatCompletion

        # The documented raw endpoint call: the body is already plain JSON, and skipping create()'s typed-parameter
        # transformation (~4 ms per request, on the event loop) keeps a step's requests from queueing behind it.
        completion = await client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
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
