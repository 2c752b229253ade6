"""The checklist over an OpenAI-compatible server: a real HTTP server on 127.0.0.1, the official ``openai`` client."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from f2g_lvlm.fake_server import Answer, FakeLVLMServer, RecordedRequest
from f2g_lvlm.testing import make_lvlm_batch
from f2g_plugin_checklist.remote import margin_from_top_logprobs
from f2g_plugin_checklist.reward import ChecklistReward
from pydantic import ValidationError

from f2g_core.errors import ComponentError, ConfigError

QUESTIONS = ["Is the [[prompt]] visible?", "Is the video smooth?", "Is the lighting good?"]
WEIGHTS = [2.0, -1.0, 0.5]


def probs_for(request: RecordedRequest) -> dict[str, float]:
    """Answer probabilities that depend on the question and on the candidate's pixels (so both must arrive)."""
    q = next((i for i, text in enumerate(("visible", "smooth", "lighting")) if text in request.text()), 0)
    brightness = float(np.mean([np.asarray(image, dtype=np.float64).mean() / 255 for image in request.images()]))
    p_yes = round(0.1 + 0.2 * q + 0.3 * brightness, 6)
    return {"yes": p_yes, " No": round(0.9 - p_yes, 6) / 2, "no": round(0.9 - p_yes, 6) / 2, "maybe": 0.1}


def responder(request: RecordedRequest) -> Answer:
    return Answer("yes", probs=probs_for(request))


def remote(server: FakeLVLMServer, **options: object) -> ChecklistReward:
    checklist = ChecklistReward(
        ChecklistReward.Options(
            backend="openai",
            model="served-vlm",
            base_url=server.openai_base_url,
            questions=QUESTIONS,
            weights=WEIGHTS,
            **options,
        )
    )
    checklist.load()
    return checklist


def test_the_margin_pools_spellings_and_refuses_non_numbers() -> None:
    assert margin_from_top_logprobs([("yes", math.log(0.5)), (" Yes", math.log(0.2)), (" no", math.log(0.1))]) == (
        pytest.approx(0.6)
    )
    assert margin_from_top_logprobs([("maybe", 0.0)]) == 0.0
    assert math.isnan(margin_from_top_logprobs([("yes", math.nan), ("no", -1.0)]))


def test_scores_are_the_weighted_margins_the_server_gave(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    batch = make_lvlm_batch(n=3, frames=4, size=16)
    with FakeLVLMServer(responder=responder) as server:
        checklist = remote(server)
        scores = checklist.score(batch)
        requests = list(server.requests)
    assert len(requests) == 3 * len(QUESTIONS) and checklist.usage()["calls"] == 9
    expected = np.zeros(3)
    margins = checklist.last_margins
    assert margins is not None
    for request in requests:
        body = request.json
        assert body["max_tokens"] == 1 and body["temperature"] == 0 and body["logprobs"] is True
        assert body["top_logprobs"] == 20 and body["model"] == "served-vlm"
    for row in range(3):
        for q in range(3):
            (request,) = [
                r
                for r in requests
                if QUESTIONS[q].replace("[[prompt]]", batch.prompt).split()[-1] in r.text()
                and np.array_equal(np.asarray(r.images()[0]), np.asarray(batch.pil_frames(row)[0]))
            ]
            p = probs_for(request)
            margin = p["yes"] - p["no"] - p[" No"]
            assert margins[row, q] == pytest.approx(margin, abs=1e-5)
            expected[row] += WEIGHTS[q] * margin
    np.testing.assert_allclose(scores, expected / sum(abs(w) for w in WEIGHTS), atol=1e-5)
    assert len(set(np.round(scores, 6))) == 3  # the candidates' pixels reached the server


def test_questions_of_a_candidate_share_the_video_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    batch = make_lvlm_batch(n=2, frames=4, size=16)
    with FakeLVLMServer(responder=responder) as server:
        remote(server).score(batch)
        requests = list(server.requests)
    by_prefix: dict[str, list[str]] = {}
    for request in requests:
        (message,) = request.json["messages"]
        *prefix, last = message["content"]
        assert last["type"] == "text" and last["text"].endswith("Answer yes or no.")
        assert [p["type"] for p in prefix] == ["text", "image_url"] * 4  # "Frame k of 4:" then the frame
        by_prefix.setdefault(json.dumps(prefix), []).append(last["text"])
    assert len(by_prefix) == 2  # one identical leading content per candidate, byte for byte
    assert all(len(texts) == len(QUESTIONS) for texts in by_prefix.values())
    first = [json.dumps(r.json["messages"][0]["content"][:-1]) for r in requests[:2]]
    assert all("visible" in r.text() for r in requests[:2]) and len(set(first)) == 2  # first questions go first


def test_a_server_without_logprobs_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with (
        FakeLVLMServer(answer="yes", logprobs=False) as server,
        pytest.raises(ComponentError, match="returned no logprobs"),
    ):
        remote(server).score(make_lvlm_batch(n=1))


def test_options_of_the_remote_backend_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValidationError, match="in-process miniature"):
        ChecklistReward.Options(backend="openai", model="tiny")
    with pytest.raises(ConfigError, match="needs the server's address"):
        ChecklistReward(ChecklistReward.Options(backend="openai", model="m")).load()


def test_f2g_generate_guides_with_the_remote_checklist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("f2g_plugin_shapes", reason="the shapes world is the offline backbone")
    from typer.testing import CliRunner

    from f2g_core.cli import app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeLVLMServer(responder=responder) as server:
        args = ["generate", "a red circle moving left", "-r", "checklist", "--method", "free2guide", "-n", "2"]
        args += ["--steps", "4"]
        args += ["--set", "rewards.0.options.backend=openai", "--set", "rewards.0.options.model=served-vlm"]
        args += ["--set", f"rewards.0.options.base_url={server.openai_base_url}", "--guided-steps", "1"]
        args += ["--set", "rewards.0.options.preset=visionreward-video", "--out", str(tmp_path)]
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
        assert server.request_count == 2 * 29
    (run,) = tmp_path.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    scores = [s for step in trace["steps"] for s in step.get("scores", {}).get("checklist", [])]
    assert len(scores) == 2 and all(s is not None and math.isfinite(s) for s in scores)
