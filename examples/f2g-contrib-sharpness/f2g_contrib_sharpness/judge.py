"""An asynchronous reward: an OpenAI-compatible vision-language model rates how sharp the key frames are.

A deliberately small LVLM reward, to show the async contract. A production one should build on the shared LVLM
base (f2g's LVLM docs): prompt templates, log-probability expectations, retries, caching, cost budgets.
"""

from __future__ import annotations

# --8<-- [start:judge]
import base64
import io
import math
import os
import re
from typing import Any

from pydantic import Field

from f2g_core.errors import ConfigError
from f2g_core.interfaces import AsyncReward, RewardBatch

QUESTION = 'How sharp (not blurred) are these video frames? Prompt: "{prompt}". Reply with "Answer: N", N from 1 to 9.'


class SharpnessJudge(AsyncReward):
    """A vision-language model rates the sharpness of each candidate's key-frame grid, 1–9."""

    name = "sharpness-judge"

    class Options(AsyncReward.Options):  # inherits max_concurrency (≥ 1): requests in flight at once
        model: str = Field("gpt-4o-mini", description="Model name (on a local server: the name it serves).")
        base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None = api.openai.com.")
        api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.client: Any = None
        self.calls = 0

    def load(self) -> None:
        import openai  # imported here, not at module import: `f2g plugins` stays fast

        key = os.environ.get(self.options.api_key_env)
        if not key:
            raise ConfigError(f"sharpness-judge: no API key; export {self.options.api_key_env}=...")
        self.client = openai.AsyncOpenAI(base_url=self.options.base_url, api_key=key)

    async def score_candidate(self, batch: RewardBatch, index: int) -> float:
        buffer = io.BytesIO()
        batch.grid(index).save(buffer, format="PNG")  # the labelled 2×2 key-frame grid LVLMs are shown
        image = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        self.calls += 1
        reply = await self.client.chat.completions.create(
            model=self.options.model,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": QUESTION.format(prompt=batch.prompt)},
                        {"type": "image_url", "image_url": {"url": image}},
                    ],
                }
            ],
        )
        found = re.search(r"Answer:\s*([1-9])", reply.choices[0].message.content or "")
        return float(found.group(1)) if found else math.nan  # unreadable answer: NaN, never a made-up score

    def usage(self) -> dict[str, float]:
        return {"calls": float(self.calls)}  # cumulative; the trace records per-step differences

    def close(self) -> None:
        self.client = None


# --8<-- [end:judge]
