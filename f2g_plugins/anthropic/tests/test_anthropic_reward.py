"""The anthropic reward with the real ``anthropic`` client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import math

import pytest
from f2g_lvlm.testing import Answer, FakeLVLMServer, Reply, error_reply
from f2g_plugin_anthropic import AnthropicReward

from f2g_core.errors import BudgetExceeded, ComponentError, ConfigError


@pytest.fixture
def make(lvlm_rewards):
    """An anthropic reward pointed at a fake server, loaded, closed after the test."""

    def make(server: FakeLVLMServer, **options: object) -> AnthropicReward:
        return lvlm_rewards(
            AnthropicReward, **{"base_url": server.anthropic_base_url, "model": "claude-sonnet-4-20250514", **options}
        )

    return make


async def test_parsed_answer_and_request_shape(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("The circle is red.\nAnswer: 8", probs={"8": 0.5, "2": 0.5})
    reward = make(lvlm_server)
    assert await reward.ascore(lvlm_batch(n=2, prompt="a red circle")) == [8.0, 8.0]
    request = lvlm_server.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == f"Bearer {lvlm_env.anthropic_key}"
    body = request.json
    assert body["model"] == "claude-sonnet-4-20250514" and "temperature" not in body
    assert "Answer: N" in body["system"] and request.prompt() == "a red circle"
    assert [p["type"] for p in body["messages"][0]["content"]] == ["image", "text"]
    assert request.images()[0].size == (128, 128)
    usage = reward.usage()
    assert usage["calls"] == 2 and usage["parsed_scores"] == 2 and usage["input_tokens"] == 240
    assert usage["cost_usd"] == pytest.approx(2 * (120 * 3 + 16 * 15) / 1e6)


async def test_yes_no_and_samples_averaged(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script("Answer: yes", "Answer: no", "Answer: yes", "Answer: yes")
    reward = make(lvlm_server, scale="yes-no", samples=4, max_concurrency=1, temperature=0.7)
    assert await reward.ascore(lvlm_batch(n=1)) == [0.75]
    assert lvlm_server.requests[0].json["temperature"] == 0.7
    assert lvlm_server.request_count == 4


async def test_sample_that_fails_is_skipped_not_zero(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script("Answer: 6", "garbage", "Answer: 8")
    reward = make(lvlm_server, samples=2, parse_retries=0, max_concurrency=1)
    (score,) = await reward.ascore(lvlm_batch(n=1))
    assert score == 6.0 and reward.usage()["parse_failures"] == 1


async def test_retries_timeouts_malformed(make, lvlm_env, lvlm_server, lvlm_batch):
    """Four transient failures in a row, then the default answer. The delayed answer would come after 120 s (the
    server wakes it when it stops) against a 2 s timeout, so it times out on any machine; retries are checked
    against the server's request log, with room for a loaded machine's extra timeout, never as one exact count."""
    lvlm_server.script(
        error_reply(529), error_reply(429, retry_after="0.3"), Reply(body=b"{nope"), Answer("Answer: 1", delay=120)
    )
    reward = make(lvlm_server, timeout=2.0, max_retries=10)
    assert await reward.ascore(lvlm_batch(n=1)) == [7.0]  # not 1: the delayed answer timed out and was retried
    usage = reward.usage()
    assert usage["retries"] >= 4 and usage["retries"] == lvlm_server.request_count - 1 == usage["requests"] - 1
    assert usage["calls"] == 1 and usage["errors"] == 0
    received = [request.received_at for request in lvlm_server.requests]
    assert received[2] - received[1] >= 0.3 * 0.95  # Retry-After: 0.3 was honoured (backoff alone: 0.01 s)


async def test_nan_after_retries(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script(*[error_reply(500)] * 2)
    reward = make(lvlm_server, max_retries=1)
    (score,) = await reward.ascore(lvlm_batch(n=1))
    assert math.isnan(score) and reward.usage()["errors"] == 1


async def test_concurrency_cache_budget(make, lvlm_env, lvlm_batch):
    with FakeLVLMServer() as server:
        server.hold(2)  # the first two are answered only once both are in flight
        reward = make(server, max_concurrency=2, max_calls=6)
        batch = lvlm_batch(n=5)
        await reward.ascore(batch)
        assert server.max_in_flight == 2 and reward.usage()["retries"] == 0
        again = make(server, max_calls=0)  # a cached run needs no budget at all
        assert await again.ascore(batch) == [7.0] * 5 and server.request_count == 5
        with pytest.raises(BudgetExceeded):
            await reward.ascore(lvlm_batch(n=2, seed=9))


async def test_bad_key_message(make, lvlm_env, lvlm_server, lvlm_batch, caplog):
    lvlm_server.script(error_reply(401, message=f"invalid x-api-key {lvlm_env.anthropic_key}"))
    with caplog.at_level(logging.DEBUG), pytest.raises(ComponentError) as info:
        await make(lvlm_server).ascore(lvlm_batch(n=1))
    assert "export ANTHROPIC_API_KEY=" in str(info.value) and "f2g keys set anthropic" in str(info.value)
    assert lvlm_env.anthropic_key not in str(info.value) + caplog.text


def test_missing_key(lvlm_env, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigError, match=r"export ANTHROPIC_API_KEY=\.\.\..*f2g keys set anthropic"):
        AnthropicReward().load()
