"""The ``anthropic`` reward: a Claude model rates how well the video fits the prompt.

The Messages API returns no log-probabilities, so the score is the parsed ``Answer: N`` (or yes/no → 1/0);
``samples: k`` asks k times (at the configured temperature) and averages the answers, which recovers some of the
resolution the expectation over log-probabilities gives GPT-4o. Retries, cache, budget and key handling come from
:class:`~f2g_core.lvlm.reward.LVLMReward`; the ``anthropic`` SDK is imported when the first client is made.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from f2g_core.config import HttpURL
from f2g_core.lvlm.retry import Failure
from f2g_core.lvlm.reward import LVLMOptions, LVLMRequest, LVLMResponse, LVLMReward, MalformedResponse

OFFICIAL_BASE_URL = "https://api.anthropic.com"


class AnthropicOptions(LVLMOptions):
    model: str = Field("claude-sonnet-4-20250514", description="Claude model id.")
    base_url: HttpURL | None = Field(None, description="Alternative endpoint (a proxy or gateway).")
    api_key_env: str = Field("ANTHROPIC_API_KEY", description="Environment variable holding the key.")
    temperature: float | None = Field(  # type: ignore[assignment]
        None,
        ge=0.0,
        le=1.0,
        description="Sent (as an extra body field) only when set: recent Claude models and SDKs have no temperature.",
    )


class AnthropicReward(LVLMReward):
    """Claude rates how well the key frames follow the prompt (parsed answers, optionally k samples averaged)."""

    name = "anthropic"
    Options = AnthropicOptions
    provider = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    default_model = "claude-sonnet-4-20250514"

    options: AnthropicOptions

    def __init__(self, options: AnthropicOptions | None = None) -> None:
        super().__init__(options)
        self.key_env = self.options.api_key_env  # type: ignore[misc]

    def base_url(self) -> str:
        """The endpoint used: the option, else ``$ANTHROPIC_BASE_URL`` (as the SDK reads it), else Anthropic's."""
        return (self.options.base_url or os.environ.get("ANTHROPIC_BASE_URL") or OFFICIAL_BASE_URL).rstrip("/")

    def _endpoint(self) -> str:
        base = self.base_url()
        return "the Anthropic API" if base == OFFICIAL_BASE_URL else f"the server at {base}"

    def _provider_params(self) -> dict[str, Any]:
        return {"base_url": self.base_url()}

    def _import_sdk(self) -> None:
        import anthropic  # noqa: F401

    def _make_client(self, api_key: str | None) -> Any:
        import anthropic

        return anthropic.AsyncAnthropic(
            api_key=api_key, base_url=self.base_url(), timeout=self.options.timeout, max_retries=0
        )

    def _classify(self, exc: BaseException) -> Failure:
        import anthropic

        if isinstance(exc, anthropic.APIConnectionError | anthropic.APIResponseValidationError):
            return Failure.TRANSIENT
        return super()._classify(exc)

    async def _call(self, client: Any, request: LVLMRequest) -> LVLMResponse:
        o = self.options
        content: list[dict[str, Any]] = []
        for label, png in zip(request.labels, request.images_png, strict=True):
            if label:
                content.append({"type": "text", "text": label})
            source = {"type": "base64", "media_type": "image/png", "data": png}
            content.append({"type": "image", "source": source})
        content.append({"type": "text", "text": request.prompt.question})  # Anthropic advises images first
        extra_body = {"temperature": o.temperature} if o.temperature is not None else None
        message = await client.messages.create(
            model=o.model,
            max_tokens=o.max_tokens,
            system=request.prompt.system,
            messages=[{"role": "user", "content": content}],
            extra_body=extra_body,
        )
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
