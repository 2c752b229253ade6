"""The reusable fake LVLM server: dialects, scripting, latency, in-flight counting, the request log."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from f2g_lvlm.fake_server import Answer, FakeLVLMServer, Reply, error_reply


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_openai_dialect_with_logprobs(lvlm_server):
    lvlm_server.default = Answer("Fine. Answer: 7", probs={"7": 0.75, "6": 0.25})
    _, _, raw = post(
        lvlm_server.openai_base_url + "/chat/completions", {"model": "m", "logprobs": True, "messages": []}
    )
    body = json.loads(raw)
    content = body["choices"][0]["logprobs"]["content"]
    assert "".join(t["token"] for t in content) == "Fine. Answer: 7"
    assert [a["token"] for a in content[-1]["top_logprobs"]] == [" 7", " 6"]
    _, _, raw = post(lvlm_server.openai_base_url + "/chat/completions", {"model": "m", "messages": []})
    assert json.loads(raw)["choices"][0]["logprobs"] is None  # not asked for


def test_anthropic_dialect_and_log(lvlm_server):
    _, _, raw = post(
        lvlm_server.url + "/v1/messages",
        {
            "model": "c",
            "system": "sys",
            "messages": [{"role": "user", "content": [{"type": "text", "text": 'Prompt: "a dog"'}]}],
        },
    )
    body = json.loads(raw)
    assert body["content"][0]["text"] == "Answer: 7" and body["usage"]["input_tokens"] == 120
    request = lvlm_server.requests[-1]
    assert request.api == "anthropic" and request.prompt() == "a dog" and "sys" in request.text()


def test_scripted_errors_and_raw_bodies(lvlm_server):
    lvlm_server.script(error_reply(429, retry_after=2), Reply(body=b"garbage", content_type="text/plain"))
    with pytest.raises(urllib.error.HTTPError) as info:
        post(lvlm_server.openai_base_url + "/chat/completions", {})
    assert info.value.code == 429 and info.value.headers["Retry-After"] == "2"
    assert post(lvlm_server.openai_base_url + "/chat/completions", {})[2] == b"garbage"
    assert lvlm_server.request_count == 2


def test_in_flight_counting_and_holds():
    with FakeLVLMServer(latency=0.05) as server:
        server.hold(5)  # no request is answered before all five are in flight
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(post(server.openai_base_url + "/chat/completions", {})))
            for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [status for status, *_ in results] == [200] * 5
        assert server.max_in_flight == 5 and server.in_flight == 0


def test_a_hold_that_never_fills_answers_503():
    with FakeLVLMServer() as server:
        server.hold(2, timeout=0.2)
        for _ in range(2):  # one after another: the held pair is never in flight together
            with pytest.raises(urllib.error.HTTPError) as info:
                post(server.openai_base_url + "/chat/completions", {})
            assert info.value.code == 503 and b"hold timed out" in info.value.read()
        assert post(server.openai_base_url + "/chat/completions", {})[0] == 200  # the hold is used up


def test_responder_sees_the_request():
    def responder(request):
        return f"Answer: {len(request.prompt() or '')}"

    with FakeLVLMServer(responder=responder) as server:
        _, _, raw = post(
            server.openai_base_url + "/chat/completions", {"messages": [{"role": "user", "content": 'Prompt: "abc"'}]}
        )
        assert json.loads(raw)["choices"][0]["message"]["content"] == "Answer: 3"


def test_stop_wakes_slow_requests():
    server = FakeLVLMServer(latency=30).start()
    thread = threading.Thread(target=lambda: post(server.openai_base_url + "/chat/completions", {}))
    thread.start()
    deadline = time.monotonic() + 30  # wait for the event (the request is in flight), not for a fixed time
    while server.in_flight != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight == 1
    server.stop()
    thread.join(timeout=5)  # the request would otherwise take 30 s
    assert not thread.is_alive() and server.in_flight == 0
