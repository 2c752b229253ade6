"""The ``anthropic`` reward: a Claude model rates how well the video fits the prompt.

The Messages API returns no log-probabilities, so the score is the parsed ``Answer: N`` (or yes/no → 1/0);
``samples: k`` asks k times (at the configured temperature) and averages the answers, which recovers some of the
resolution the expectation over log-probabilities gives GPT-4o. Retries, cache, budget and key handling come from
:class:`~f2g_lvlm.sdk.SDKReward`; the ``anthropic`` SDK is imported when the first client is made.
"""

from __future__ import annotations

from typing import Any

from f2g_lvlm.reward import LVLMOptions, LVLMRequest, LVLMResponse, MalformedResponse
from f2g_lvlm.sdk import SDKReward
from pydantic import Field


class AnthropicOptions(LVLMOptions):
    model: str = Field("claude-sonnet-4-20250514", description="Claude model id.")
    temperature: float | None = Field(  # type: ignore[assignment]
        None,
        ge=0.0,
        le=1.0,
        description="Sent only when set: recent Claude models take no temperature.",
    )


class AnthropicReward(SDKReward):
    """Claude rates how well the key frames follow the prompt (parsed answers, optionally k samples averaged)."""

    name = "anthropic"
    Options = AnthropicOptions
    provider = "anthropic"
    display_name = "Anthropic"
    key_env = "ANTHROPIC_API_KEY"
    official_base_url = "https://api.anthropic.com"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_model = "claude-sonnet-4-20250514"
    sdk_module = "anthropic"
    client_class = "AsyncAnthropic"

    options: AnthropicOptions

    async def send(self, client: Any, request: LVLMRequest) -> LVLMResponse:
        o = self.options
        content: list[dict[str, Any]] = []
        for label, png in zip(request.labels, request.images_png, strict=True):
            if label:
                content.append({"type": "text", "text": label})
            source = {"type": "base64", "media_type": "image/png", "data": png}
            content.append({"type": "image", "source": source})
        content.append({"type": "text", "text": request.prompt.question})  # Anthropic advises images first
        from anthropic.types import Message

        body: dict[str, Any] = {
            "model": o.model,
            "max_tokens": o.max_tokens,
            "system": request.prompt.system,
            "messages": [{"role": "user", "content": content}],
        }
        if o.temperature is not None:
            body["temperature"] = o.temperature
        # The documented raw endpoint call: the body is already plain JSON, and skipping create()'s typed-parameter
        # transformation keeps a step's requests from queueing behind it on the event loop.
        message = await client.post("/v1/messages", body=body, cast_to=Message)
        blocks = getattr(message, "content", None)
        if not isinstance(blocks, list):
            raise MalformedResponse("message without content blocks")
        text = "".join(str(getattr(b, "text", "")) for b in blocks if getattr(b, "type", None) == "text")
        usage = getattr(message, "usage", None)
        return LVLMResponse(
            text=text,
            tokens=None,
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        )
