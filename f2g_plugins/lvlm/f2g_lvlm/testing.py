"""Testing LVLM rewards against a real HTTP server on 127.0.0.1: the fake server and opt-in pytest fixtures.

* ``lvlm_server`` — a started :class:`~f2g_lvlm.fake_server.FakeLVLMServer` (OpenAI + Anthropic dialects),
  stopped after the test. Point a reward at ``lvlm_server.openai_base_url`` or ``lvlm_server.anthropic_base_url``.
* ``lvlm_env`` — an isolated environment: fake API keys in ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``, a
  temporary key store and answer cache, ``HF_HUB_OFFLINE=1``. Returns an :class:`LVLMEnv`.
* ``lvlm_batch`` — a factory of small random :class:`~f2g_core.interfaces.RewardBatch` objects.
* ``lvlm_rewards`` — a factory of loaded rewards with millisecond retries (``FAST_RETRIES``), each closed after
  the test inside the test's own event loop (as a pipeline closes its rewards).

The fixtures are opt-in, never loaded into every pytest session: import them in a ``conftest.py``
(``from f2g_lvlm.testing import lvlm_batch, lvlm_env, lvlm_server``) or name the module in the top-level
``conftest.py`` (``pytest_plugins = ["f2g_lvlm.testing"]``). The server's scripting names (:class:`FakeLVLMServer`,
:class:`Answer`, :class:`Reply`, :func:`error_reply`, :class:`RecordedRequest`) are re-exported here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from f2g_core.interfaces import RewardBatch, StepInfo
from f2g_lvlm.fake_server import Answer, FakeLVLMServer, RecordedRequest, Reply, error_reply
from f2g_lvlm.reward import LVLMReward

__all__ = [
    "FAST_RETRIES",
    "Answer",
    "FakeLVLMServer",
    "LVLMEnv",
    "RecordedRequest",
    "Reply",
    "error_reply",
    "lvlm_batch",
    "lvlm_env",
    "lvlm_rewards",
    "lvlm_server",
    "make_lvlm_batch",
]

R = TypeVar("R", bound=LVLMReward)

FAKE_OPENAI_KEY = "sk-test-f2g-0123456789abcdefSECRET"
FAKE_ANTHROPIC_KEY = "sk-ant-test-f2g-0123456789abcdefSECRET"
FAST_RETRIES: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.02, "backoff_jitter": 0.0, "timeout": 5.0}
"""Options that make a test's retries take milliseconds instead of seconds."""


@dataclass(frozen=True)
class LVLMEnv:
    """What ``lvlm_env`` set up."""

    openai_key: str
    anthropic_key: str
    keys_file: Path
    cache_dir: Path


def make_lvlm_batch(
    n: int = 3,
    prompt: str = "a red circle moving right",
    frames: int = 4,
    size: int = 16,
    seed: int = 0,
    step: int = 0,
) -> RewardBatch:
    """A batch of ``n`` candidates with ``frames`` random key frames of ``size``×``size`` pixels each."""
    rng = np.random.default_rng(seed)
    pixels = rng.random((n, frames, size, size, 3), dtype=np.float32)
    indices = tuple(int(i) for i in np.linspace(0, 15, frames).round())
    return RewardBatch(
        prompt=prompt,
        frames=pixels,
        frame_indices=indices,
        num_frames=16,
        step=StepInfo(index=step, num_steps=50, timestep=981.0),
    )


@pytest.fixture
def lvlm_server() -> Iterator[FakeLVLMServer]:
    """A fake OpenAI/Anthropic-compatible LVLM server on 127.0.0.1, answering ``Answer: 7`` unless scripted."""
    with FakeLVLMServer() as server:
        yield server


@pytest.fixture
def lvlm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LVLMEnv:
    """Fake API keys in the environment, a temporary key store and answer cache, offline Hugging Face hub."""
    keys_file = tmp_path / "f2g-config" / "keys.json"
    cache_dir = tmp_path / "f2g-cache" / "lvlm"
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_ANTHROPIC_KEY)
    monkeypatch.setenv("F2G_KEYS_FILE", str(keys_file))
    monkeypatch.setenv("F2G_LVLM_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return LVLMEnv(FAKE_OPENAI_KEY, FAKE_ANTHROPIC_KEY, keys_file, cache_dir)


@pytest.fixture
def lvlm_batch() -> Callable[..., RewardBatch]:
    """Factory: ``lvlm_batch(n=3, prompt=..., frames=4, size=16, seed=0)`` → a random RewardBatch."""
    return make_lvlm_batch


@pytest.fixture
async def lvlm_rewards() -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``lvlm_rewards(RewardClass, base_url=..., **options)`` → a loaded reward with ``FAST_RETRIES``.

    Every reward it made is closed after the test, inside the test's event loop (the client's connections
    belong to it).
    """
    made: list[LVLMReward] = []

    def make(reward_class: type[R], **options: Any) -> R:
        reward = reward_class(reward_class.Options(**{**FAST_RETRIES, **options}))
        reward.load()
        made.append(reward)
        return reward

    yield make
    for reward in reversed(made):
        await reward.aclose()
