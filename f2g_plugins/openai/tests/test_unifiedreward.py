"""``unifiedreward-openai``: UnifiedReward-2.0 behind an OpenAI-compatible server, asked as its reference asks.

A real HTTP server on 127.0.0.1 (f2g_lvlm's fake) answers the official ``openai`` client.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from f2g_lvlm.fake_server import Answer, FakeLVLMServer
from f2g_lvlm.rubrics import RUBRICS
from f2g_lvlm.testing import FAST_RETRIES, LVLMEnv, make_lvlm_batch
from f2g_plugin_openai.unifiedreward import UnifiedRewardOpenAI

from f2g_core.errors import ConfigError
from f2g_core.interfaces import RewardBatch

GOLDEN = Path(__file__).parents[2] / "transformers_vlm" / "tests" / "golden" / "rubrics.json"
REPLY = "Alignment Score (1-5): 2.4036\nPhysics Score (1-5): 3.0987\nStyle Score (1-5): 3.3889"


def reward(server: FakeLVLMServer, **options: object) -> UnifiedRewardOpenAI:
    made = UnifiedRewardOpenAI(
        UnifiedRewardOpenAI.Options(base_url=server.openai_base_url, **{**FAST_RETRIES, **options})  # type: ignore[arg-type]
    )
    made.load()
    return made


def sixteen(n: int = 2) -> RewardBatch:
    batch = make_lvlm_batch(n=n, prompt="a red circle moving left", frames=16, size=16)
    return RewardBatch(
        prompt=batch.prompt,
        frames=batch.frames,
        frame_indices=tuple(range(16)),
        num_frames=16,
        step=batch.step,
    )


def test_the_request_is_the_references_and_the_reply_is_parsed(lvlm_env: LVLMEnv) -> None:
    with FakeLVLMServer(answer=Answer(REPLY)) as server:
        judge = reward(server)
        batch = sixteen()
        scores = judge.score(batch)
        (request, _) = server.requests
    assert scores == pytest.approx([(2.4036 + 3.0987 + 3.3889) / 3] * 2)
    body = request.json
    assert body["model"] == "UnifiedReward" and body["temperature"] == 0 and body["max_tokens"] == 4096
    (message,) = body["messages"]  # no system message: one user turn
    *images, text = message["content"]
    assert [part["type"] for part in images] == ["image_url"] * 16 and text["type"] == "text"
    golden = json.loads(GOLDEN.read_text())["unifiedreward"]["prompts"]
    assert text["text"] == golden["a red circle moving left"] == RUBRICS["unifiedreward"].text(batch.prompt)
    shown = request.images()
    sent = {
        i
        for i in range(2)
        for k in range(16)
        if np.array_equal(np.asarray(shown[k]), np.asarray(batch.pil_frames(i)[k]))
    }
    assert len(sent) == 1  # the 16 frames of one candidate, in order


def test_dimensions_choose_what_is_averaged_and_bad_replies_are_nan(lvlm_env: LVLMEnv) -> None:
    with FakeLVLMServer(answer=Answer(REPLY)) as server:
        assert reward(server, dimensions=["physics"]).score(sixteen(1)) == pytest.approx([3.0987])
    with FakeLVLMServer(answer=Answer("Alignment Score (1-5): 4")) as server:
        (score,) = reward(server, parse_retries=1, cache=False).score(sixteen(1))
        assert math.isnan(score) and server.request_count == 2  # asked again, then NaN
    with pytest.raises(ConfigError, match="choose one or more of"):
        UnifiedRewardOpenAI(UnifiedRewardOpenAI.Options(dimensions=["beauty"]))


def test_the_official_endpoint_is_refused(lvlm_env: LVLMEnv) -> None:
    with pytest.raises(ConfigError, match="your own vLLM/SGLang server"):
        UnifiedRewardOpenAI().load()


def test_four_key_frames_stand_in_for_the_references_16(lvlm_env: LVLMEnv, caplog: pytest.LogCaptureFixture) -> None:
    with FakeLVLMServer(answer=Answer(REPLY)) as server:
        reward(server).score(make_lvlm_batch(n=1, frames=4))
        (request,) = server.requests
    assert len(request.images()) == 16 and "set guidance.key_frames to [0, 1, 2" in caplog.text


def test_f2g_generate_and_eval_with_the_served_judge(lvlm_env: LVLMEnv, tmp_path: Path) -> None:
    pytest.importorskip("f2g_plugin_shapes", reason="the shapes world is the offline backbone")
    import csv

    from typer.testing import CliRunner

    from f2g_core.cli import app

    def invoke(*args: str) -> None:
        done = CliRunner().invoke(app, list(args))
        assert done.exit_code == 0, done.output

    with FakeLVLMServer(answer=Answer(REPLY)) as server:
        invoke(
            "generate", "a red circle moving left", "-r", "unifiedreward-openai", "--method", "free2guide", "-n", "2",
            "--steps", "4",
            "--guided-steps", "1", "--set", f"rewards.0.options.base_url={server.openai_base_url}",
            "--out", str(tmp_path / "gen"),
        )  # fmt: skip
        assert server.request_count == 2
        suite, config, out = tmp_path / "suite.txt", tmp_path / "base.yaml", tmp_path / "out"
        suite.write_text("a red circle moving left\n")
        config.write_text("backbone: {type: shapes}\nsampler: {num_steps: 4}\nguidance: {method: none}\n")
        metric = f"unifiedreward-openai:base_url={server.openai_base_url}"
        invoke("eval", str(suite), "-c", str(config), "--metric", metric, "--out", str(out))
    with (out / "results.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["unifiedreward-openai"]) == pytest.approx((2.4036 + 3.0987 + 3.3889) / 3)
