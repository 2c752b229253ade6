"""The openai reward with the real ``openai`` client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import math
import re

import pytest
from f2g_lvlm.testing import Answer, FakeLVLMServer, Reply, error_reply
from f2g_plugin_openai import OpenAIReward

from f2g_core.errors import BudgetExceeded, ComponentError, ConfigError
from f2g_core.keys import set_key


@pytest.fixture
def make(lvlm_rewards):
    """An openai reward pointed at a fake server, loaded, closed after the test."""

    def make(server: FakeLVLMServer, **options: object) -> OpenAIReward:
        return lvlm_rewards(OpenAIReward, **{"base_url": server.openai_base_url, "model": "fake-model", **options})

    return make


async def test_logprob_expectation_and_request_shape(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("Looks right.\nAnswer: 7", probs={"7": 0.5, "8": 0.3, "6": 0.2})
    reward = make(lvlm_server)
    scores = await reward.ascore(lvlm_batch(n=2, prompt="a red circle"))
    assert scores == pytest.approx([7.1, 7.1])
    usage = reward.usage()
    assert usage["calls"] == 2 and usage["logprob_scores"] == 2 and usage["input_tokens"] == 240
    request = lvlm_server.requests[0]
    body = request.json
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {lvlm_env.openai_key}"
    assert body["model"] == "fake-model" and body["temperature"] == 0.3
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["messages"][0]["role"] == "system" and "Answer: N" in body["messages"][0]["content"]
    assert "2×2 grid" in body["messages"][0]["content"]
    assert request.prompt() == "a red circle"
    parts = body["messages"][1]["content"]
    assert [p["image_url"]["detail"] for p in parts if p["type"] == "image_url"] == ["low"]
    (grid,) = request.images()
    assert grid.size == (128, 128)  # four 16-pixel frames upscaled to 64-pixel tiles, 2×2


async def test_parsed_answer_when_server_returns_no_logprobs(make, lvlm_env, lvlm_batch):
    with FakeLVLMServer(Answer("Answer: 4", probs={"4": 0.5, "9": 0.5}), logprobs=False) as server:
        reward = make(server)
        assert await reward.ascore(lvlm_batch(n=2)) == [4.0, 4.0]
        assert reward.usage()["parsed_scores"] == 2


async def test_a_nan_logprob_for_the_answer_scores_the_parsed_answer_and_is_counted(
    make, lvlm_env, lvlm_server, lvlm_batch
):
    """The server sends NaN as the answer token's log-probability: the reply says 7, so the score is 7 (it was the
    other digits' mean, 4.5), and the fallback is counted."""
    lvlm_server.default = Answer("Answer: 7", probs={"7": math.nan, "3": 0.25, "4": 0.25, "5": 0.25, "6": 0.25})
    reward = make(lvlm_server)
    assert await reward.ascore(lvlm_batch(n=1)) == [7.0]
    usage = reward.usage()
    assert usage["logprob_fallbacks"] == 1 and usage["parsed_scores"] == 1 and usage["logprob_scores"] == 0
    assert lvlm_server.request_count == 1


async def test_logprobs_option_off_sends_no_logprobs(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("Answer: 3", probs={"3": 0.5, "9": 0.5})
    reward = make(lvlm_server, logprobs=False)
    assert await reward.ascore(lvlm_batch(n=1)) == [3.0]
    assert "logprobs" not in lvlm_server.requests[0].json


async def test_yes_no_scale(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("It matches. Answer: yes", probs={"yes": 0.8, "no": 0.2})
    reward = make(lvlm_server, scale="yes-no")
    assert await reward.ascore(lvlm_batch(n=1)) == pytest.approx([0.8])
    assert '"Answer: yes"' in lvlm_server.requests[0].json["messages"][0]["content"]
    parsed = make(lvlm_server, scale="yes-no", logprobs=False, cache=False)
    lvlm_server.default = Answer("Answer: no")
    assert await parsed.ascore(lvlm_batch(n=1)) == [0.0]


@pytest.mark.parametrize("header", ["1", "0.4"])
async def test_429_retry_after_is_honoured(make, lvlm_env, lvlm_server, lvlm_batch, header, caplog):
    lvlm_server.script(error_reply(429, retry_after=header))
    reward = make(lvlm_server)
    with caplog.at_level(logging.INFO, logger="f2g.lvlm"):
        assert await reward.ascore(lvlm_batch(n=1)) == [7.0]
    assert f"retrying in {float(header):.2f}s" in caplog.text  # the server's wait, not the 0.01 s backoff
    first, second = (request.received_at for request in lvlm_server.requests)
    assert second - first >= float(header) * 0.95
    assert reward.usage()["retries"] == 1 and reward.usage()["requests"] == 2 and reward.usage()["calls"] == 1


async def test_5xx_are_retried_then_nan(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script(error_reply(500), error_reply(503))
    reward = make(lvlm_server)
    assert await reward.ascore(lvlm_batch(n=1)) == [7.0]
    assert reward.usage()["retries"] == 2

    lvlm_server.script(*[error_reply(502)] * 3)
    failing = make(lvlm_server, max_retries=2, cache=False)
    (score,) = await failing.ascore(lvlm_batch(n=1, seed=1))
    assert math.isnan(score)
    usage = failing.usage()
    assert usage["requests"] == 3 and usage["errors"] == 1 and usage["nan_scores"] == 1 and usage["calls"] == 0


async def test_timeouts_are_retried(make, lvlm_env, lvlm_server, lvlm_batch):
    """The first answer would come after 120 s (the server wakes it when it stops), the timeout is 2 s: however
    loaded the machine, that request times out and is retried. The counts are checked against the server's own
    log, not against an exact number a slow machine could exceed with one more timeout."""
    lvlm_server.script(Answer("Answer: 2", delay=120.0))
    reward = make(lvlm_server, timeout=2.0, max_retries=8)
    assert await reward.ascore(lvlm_batch(n=1)) == [7.0]  # not 2: the slow answer timed out and was retried
    usage = reward.usage()
    assert usage["retries"] >= 1 and usage["retries"] == lvlm_server.request_count - 1 == usage["requests"] - 1
    assert usage["calls"] == 1 and usage["errors"] == 0


async def test_garbage_answers_are_reasked_then_nan(make, lvlm_env, lvlm_server, lvlm_batch, caplog):
    lvlm_server.script("I think it is nice.", "Answer: 5")
    reward = make(lvlm_server)
    assert await reward.ascore(lvlm_batch(n=1)) == [5.0]
    assert reward.usage()["parse_failures"] == 1 and reward.usage()["calls"] == 2

    lvlm_server.script("no idea", "Answer: ten", "Answer: 11")
    failing = make(lvlm_server, parse_retries=2, cache=False)
    with caplog.at_level(logging.WARNING, logger="f2g.lvlm"):
        (score,) = await failing.ascore(lvlm_batch(n=1, seed=3))
    assert math.isnan(score)  # never a silent 0
    usage = failing.usage()
    assert usage["parse_failures"] == 3 and usage["calls"] == 3 and usage["nan_scores"] == 1
    assert "NaN" in caplog.text


async def test_malformed_bodies_are_retried(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script(Reply(body=b'{"choices": [ broken'), Reply(json={"choices": []}), Reply(body=b"<html>oops"))
    reward = make(lvlm_server)
    assert await reward.ascore(lvlm_batch(n=1)) == [7.0]
    assert reward.usage()["retries"] == 3


async def test_permanent_error_scores_nan_without_retry(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script(error_reply(400, message="image too large"))
    reward = make(lvlm_server, cache=False)
    (score,) = await reward.ascore(lvlm_batch(n=1))
    assert math.isnan(score) and reward.usage()["requests"] == 1 and reward.usage()["errors"] == 1


@pytest.mark.parametrize("limit", [1, 3, 8])
async def test_concurrency_is_bounded(make, lvlm_env, lvlm_batch, limit):
    with FakeLVLMServer(latency=0.02) as server:
        server.hold(limit)  # the first `limit` are answered only once all of them are in flight
        reward = make(server, max_concurrency=limit, cache=False)
        scores = await reward.ascore(lvlm_batch(n=8))
        assert scores == [7.0] * 8 and reward.usage()["retries"] == 0
        assert server.max_in_flight == limit and server.request_count == 8


async def test_cached_run_makes_zero_calls(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("Answer: 6", probs={"6": 0.5, "7": 0.5})
    batch = lvlm_batch(n=3)
    first = make(lvlm_server)
    scores = await first.ascore(batch)
    assert lvlm_server.request_count == 3
    second = make(lvlm_server)
    assert await second.ascore(batch) == scores
    assert lvlm_server.request_count == 3  # nothing new
    assert second.usage()["cache_hits"] == 3 and second.usage()["calls"] == 0
    # Anything that changes the answer is part of the key: prompt, template version, scale, model, detail.
    for changed, options in [
        (lvlm_batch(n=3, prompt="another prompt"), {}),
        (batch, {"template_version": "2"}),
        (batch, {"detail": "high"}),
        (batch, {"model": "other-model"}),
    ]:
        before = lvlm_server.request_count
        await make(lvlm_server, **options).ascore(changed)
        assert lvlm_server.request_count == before + 3


async def test_budget_max_calls_stops_before_calling(make, lvlm_env, lvlm_server, lvlm_batch):
    reward = make(lvlm_server, max_calls=4, cache=False)
    await reward.ascore(lvlm_batch(n=3))
    with pytest.raises(BudgetExceeded, match="max_calls=4"):
        await reward.ascore(lvlm_batch(n=3, seed=1))
    assert lvlm_server.request_count == 3 and reward.usage()["budget_stops"] == 1
    with pytest.raises(BudgetExceeded):  # stays stopped
        await reward.ascore(lvlm_batch(n=1, seed=2))


async def test_cost_accounting_and_budget(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("Answer: 7", input_tokens=1000, output_tokens=100)
    prices = {"fake-model": {"input": 100.0, "output": 1000.0}}  # $0.1 + $0.1 per call
    reward = make(lvlm_server, prices=prices, max_cost_usd=0.5, cache=False)
    await reward.ascore(lvlm_batch(n=2))
    assert reward.usage()["cost_usd"] == pytest.approx(0.4)
    assert reward.usage()["output_tokens"] == 200
    with pytest.raises(BudgetExceeded, match="max_cost_usd"):
        await reward.ascore(lvlm_batch(n=2, seed=1))  # 0.4 + 2 × 0.2 > 0.5
    assert lvlm_server.request_count == 2


async def test_known_model_price(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.default = Answer("Answer: 7", input_tokens=1_000_000, output_tokens=0)
    reward = make(lvlm_server, model="gpt-4o-2024-08-06", cache=False)
    await reward.ascore(lvlm_batch(n=1))
    assert reward.usage()["cost_usd"] == pytest.approx(2.5)


async def test_frames_mode_and_samples(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script("Answer: 3", "Answer: 5", "Answer: 7")
    reward = make(lvlm_server, images="frames", samples=3, seed=10, max_concurrency=1, logprobs=False)
    assert await reward.ascore(lvlm_batch(n=1)) == [5.0]
    assert sorted(r.json["seed"] for r in lvlm_server.requests) == [10, 11, 12]
    request = lvlm_server.requests[0]
    assert len(request.images()) == 4 and "Frame 4 of 4:" in request.text()
    assert "as separate images" in request.text()


def test_sync_score_across_event_loops(make, lvlm_env, lvlm_server, lvlm_batch):
    reward = make(lvlm_server, cache=False)
    assert list(reward.score(lvlm_batch(n=2))) == [7.0, 7.0]
    assert list(reward.score(lvlm_batch(n=2, seed=1))) == [7.0, 7.0]  # a new loop, a new client
    reward.close()


async def test_bad_key_is_fatal_and_never_shown(make, lvlm_env, lvlm_server, lvlm_batch, caplog):
    key = lvlm_env.openai_key
    lvlm_server.script(error_reply(401, message=f"Incorrect API key provided: {key[:14]}****"))
    reward = make(lvlm_server)
    with caplog.at_level(logging.DEBUG), pytest.raises(ComponentError) as info:
        await reward.ascore(lvlm_batch(n=1))
    message = str(info.value)
    assert "export OPENAI_API_KEY=" in message and "f2g keys set openai" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # A server echoing part of the key into a non-fatal error: the log is redacted.
    lvlm_server.script(error_reply(400, message=f"bad request for key {key[:12]}"))
    await make(lvlm_server, cache=False).ascore(lvlm_batch(n=1, seed=5))
    for text in (message, caplog.text, repr(reward), str(reward.options), reward.options.model_dump_json()):
        assert key not in text and key[:12] not in text


async def test_key_in_options_is_secret(make, lvlm_env, lvlm_server, lvlm_batch):
    secret = "sk-from-options-SECRET-987654321"
    reward = make(lvlm_server, api_key=secret)
    await reward.ascore(lvlm_batch(n=1))
    assert lvlm_server.requests[0].headers["authorization"] == f"Bearer {secret}"
    dumped = reward.options.model_dump(mode="json")
    assert secret not in repr(reward.options) and secret not in str(dumped)


def test_missing_key_for_official_api_says_how_to_set_it(lvlm_env, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    reward = OpenAIReward()
    with pytest.raises(ConfigError) as info:
        reward.load()
    assert "export OPENAI_API_KEY=..." in str(info.value) and "f2g keys set openai" in str(info.value)


async def test_key_from_store_and_keyless_local_server(make, lvlm_env, lvlm_server, lvlm_batch, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    reward = make(lvlm_server)  # a local server needs no key
    await reward.ascore(lvlm_batch(n=1))
    assert lvlm_server.requests[-1].headers["authorization"] == "Bearer not-needed"
    set_key("openai", "sk-stored-key-123456789")
    stored = make(lvlm_server, cache=False)
    await stored.ascore(lvlm_batch(n=1))
    assert lvlm_server.requests[-1].headers["authorization"] == "Bearer sk-stored-key-123456789"


async def test_model_not_found_is_fatal(make, lvlm_env, lvlm_server, lvlm_batch):
    lvlm_server.script(error_reply(404, message="The model `nope` does not exist"))
    with pytest.raises(ComponentError, match="does not exist"):
        await make(lvlm_server, model="nope").ascore(lvlm_batch(n=1))


async def test_two_rewards_share_nothing_and_run_concurrently(make, lvlm_env, lvlm_batch):
    with FakeLVLMServer() as server:
        server.hold(8)  # answered only once all eight are in flight
        a, b = make(server, cache=False), make(server, cache=False, model="other-model")
        server.default = Answer("Answer: 7")
        await asyncio.gather(a.ascore(lvlm_batch(n=4)), b.ascore(lvlm_batch(n=4, seed=1)))
        assert server.max_in_flight == 8 and a.usage()["retries"] + b.usage()["retries"] == 0


async def test_connection_refused_is_retried_then_nan(lvlm_env, lvlm_batch, lvlm_rewards):
    server = FakeLVLMServer().start()
    url = server.openai_base_url
    server.stop()  # nothing listens there any more
    reward = lvlm_rewards(OpenAIReward, base_url=url, model="m", max_retries=1, cache=False)
    (score,) = await reward.ascore(lvlm_batch(n=1))
    assert math.isnan(score)
    usage = reward.usage()
    assert usage["requests"] == 2 and usage["retries"] == 1 and usage["errors"] == 1 and usage["calls"] == 0


def test_template_version_is_recorded(make, lvlm_env, lvlm_server):
    reward = make(lvlm_server)
    assert reward.options.template_version == "1"
    assert reward.trace_info() == {
        "provider": "openai",
        "model": "fake-model",
        "template": "free2guide@1",
        "scale": "1-9",
        "images": "grid",
    }
    custom = make(lvlm_server, question='Is "{prompt}" shown?')
    assert custom.options.template_version.startswith("custom-")
    assert custom.trace_info()["template"].startswith("free2guide+custom@custom-")


async def test_base_url_from_environment(lvlm_env, lvlm_server, lvlm_batch, lvlm_rewards, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", lvlm_server.openai_base_url)
    monkeypatch.delenv("OPENAI_API_KEY")  # not the official endpoint: no key needed
    reward = lvlm_rewards(OpenAIReward, model="m")
    assert await reward.ascore(lvlm_batch(n=1)) == [7.0]
    assert reward.cache_params()["base_url"] == lvlm_server.openai_base_url


@pytest.mark.parametrize("value", ["localhost:8000/v1", "ftp://example.com", "http://"])
def test_a_malformed_base_url_environment_variable_is_named(lvlm_env, lvlm_rewards, monkeypatch, value):
    monkeypatch.setenv("OPENAI_BASE_URL", value)
    with pytest.raises(ConfigError, match=rf"\$OPENAI_BASE_URL='{re.escape(value)}' is not an http\(s\) URL"):
        lvlm_rewards(OpenAIReward, model="m")  # loads it
