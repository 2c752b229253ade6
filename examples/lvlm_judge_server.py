"""An OpenAI-compatible "LVLM" server whose answers come from the shapes world's judge looking at the grid it got.

Used by ``examples/lvlm_shapes_e2e.py`` and the end-to-end tests: the ``openai`` reward sends the labelled 2×2
key-frame grid as a PNG, exactly as it would to GPT-4o; this server decodes it, asks
``f2g_plugin_shapes.judge.rate_grid(prompt, grid)`` for the probabilities of ratings 1–9 and answers with
"Answer: N" plus those probabilities as the answer digit's log-probabilities. So the whole LVLM path — grid
rendering, PNG/base64, the real ``openai`` client, HTTP, log-prob parsing, concurrency, cache — runs with real
images and no network.

Run it on its own (then point any OpenAI-compatible client at the printed URL):

    python examples/lvlm_judge_server.py --latency 0.3
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from f2g_lvlm.fake_server import Answer, FakeLVLMServer, RecordedRequest


def judge_answer(request: RecordedRequest) -> Answer:
    """Rate the first image of the request against the quoted prompt with the shapes judge."""
    from f2g_plugin_shapes.judge import rate_grid

    images = request.images()
    prompt = request.prompt() or ""
    if not images:
        return Answer("I was not shown any image.\nAnswer: 1", probs={"1": 1.0})
    probs = rate_grid(prompt, images[0])
    rating = int(probs.argmax()) + 1
    return Answer(
        f"I compared the four frames with the prompt.\nAnswer: {rating}",
        probs={str(d + 1): float(p) for d, p in enumerate(probs)},
    )


def judge_server(latency: float = 0.0, port: int = 0) -> FakeLVLMServer:
    """A (not yet started) fake OpenAI-compatible server answering with the shapes judge."""
    return FakeLVLMServer(responder=judge_answer, latency=latency, port=port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with judge_server(args.latency, args.port) as server:
        print(f"OpenAI-compatible judge at {server.openai_base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
