"""``examples/ensemble_imagereward_gpt4o.yaml``: it validates as written, and it runs once made offline.

Offline, the LVLM is f2g-lvlm's fake OpenAI-compatible server on 127.0.0.1, ImageReward a tiny seeded checkpoint
and VideoCrafter2 (the official architecture, f2g-plugin-paper-backbones) its random miniature; nothing else in
the file changes, so the test exercises the example's own reward, weights and combiner through the real guided
pipeline.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from f2g_core.config import load_config, read_config_file

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ensemble_imagereward_gpt4o.yaml"

openai_plugin = pytest.importorskip("f2g_plugin_openai.plugin", reason="f2g-plugin-openai is not installed")
paper_plugin = pytest.importorskip(
    "f2g_plugin_paper_backbones.plugin", reason="f2g-plugin-paper-backbones is not installed"
)

lvlm_testing = pytest.importorskip("f2g_lvlm.testing", reason="f2g-lvlm is not installed")
lvlm_env = lvlm_testing.lvlm_env  # f2g-lvlm's opt-in fixture


def test_example_is_the_papers_setting() -> None:
    config = load_config(EXAMPLE)
    by_type = {r.type: r for r in config.rewards}
    assert set(by_type) == {"openai", "imagereward"}
    assert by_type["openai"].weight == 0.75 and by_type["imagereward"].weight == 0.25
    assert by_type["openai"].options["model"] == "gpt-4o-2024-08-06"
    assert config.combiner.type == "weighted-sum"
    assert config.backbone.type == "videocrafter2"
    assert (config.sampler.num_steps, config.sampler.eta) == (50, 1.0)
    g = config.guidance
    assert (g.method, g.options, g.key_frames) == (
        "free2guide",
        {"num_candidates": 10, "start": 0, "num_guided_steps": 6, "selection": "argmax"},
        [0, 5, 10, 15],
    )


def registry() -> Any:
    from f2g_plugin_imagereward import plugin as imagereward_plugin

    from f2g_core.testing import isolated_plugins

    return isolated_plugins(
        [
            ("f2g-plugin-openai", openai_plugin),
            ("f2g-plugin-imagereward", imagereward_plugin),
            ("f2g-plugin-paper-backbones", paper_plugin),  # the official `videocrafter2`
        ]
    ).registry


def test_example_assembles_with_every_component_validated() -> None:
    """Every block's options pass its component's own Options model (no network: nothing is loaded)."""
    from f2g_core.pipeline import Pipeline

    pipeline = Pipeline.from_config(EXAMPLE, registry=registry())
    try:
        names = {type(r).name: r for r in pipeline.rewards.values()}
        assert names["openai"].options.model == "gpt-4o-2024-08-06"
        assert names["imagereward"].options.checkpoint == "THUDM/ImageReward"
        assert pipeline.key_frames() == [0, 5, 10, 15]
    finally:
        pipeline.close()


def offline(config: dict[str, Any], server: Any, tiny_files: Any) -> dict[str, Any]:
    """The example with only its sources swapped for local ones, and sizes small enough for a test."""
    from f2g_plugin_imagereward.testing import TINY_VISION

    config = copy.deepcopy(config)
    config["backbone"]["options"] = {"model": "tiny", "height": 32, "width": 32, "num_frames": 16, "device": "cpu"}
    for reward in config["rewards"]:
        if reward["type"] == "openai":
            reward["options"].update(base_url=server.openai_base_url, cache=False)
        else:
            reward["options"].update(
                checkpoint=str(tiny_files.checkpoint),
                med_config=str(tiny_files.med_config),
                tokenizer=str(tiny_files.tokenizer),
                vision_heads=TINY_VISION["heads"],
                dtype="float32",
                device="cpu",
            )
    config["sampler"]["num_steps"] = 4
    config["guidance"]["options"].update(num_candidates=3, num_guided_steps=2)
    return config


def test_example_runs_offline_with_the_lvlm_on_a_local_server(lvlm_env: Any, tiny_files: Any) -> None:
    from f2g_core.pipeline import Pipeline

    ratings = iter([7, 3, 5, 2, 8, 6] * 4)

    def judge(request: Any) -> Any:
        rating = next(ratings)
        return lvlm_testing.Answer(f"Reasoning: fine.\nAnswer: {rating}", probs={str(rating): 1.0})

    with lvlm_testing.FakeLVLMServer(responder=judge) as server:
        config = offline(read_config_file(EXAMPLE), server, tiny_files)
        with Pipeline.from_config(config, registry=registry()) as pipeline:
            result = pipeline.generate()
        assert server.request_count == 6  # 3 candidates × 2 guided steps, one grid each

    assert result.video.shape == (16, 32, 32, 3) and np.isfinite(result.video).all()
    guided = [step for step in result.trace.steps if step.guided]
    assert len(guided) == 2
    for step in guided:
        gpt, ir = np.asarray(step.scores["gpt4o"], float), np.asarray(step.scores["imagereward"], float)
        assert set(gpt) <= {2.0, 3.0, 5.0, 6.0, 7.0, 8.0} and np.isfinite(ir).all()
        np.testing.assert_allclose(step.combined, 0.75 * gpt + 0.25 * ir, atol=1e-6)
        assert step.chosen == int(np.argmax(step.combined))
