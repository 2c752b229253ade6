"""The paper-setting examples validate and say what the paper ran (nothing is loaded: no network, no weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from f2g_plugin_paper_backbones.lavie import LaVieBackbone
from f2g_plugin_paper_backbones.videocrafter2 import VideoCrafter2Backbone

from f2g_core.config import load_config
from f2g_core.default_plugins.samplers import Free2Guide

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize(
    ("name", "cls", "cfg", "n"),
    [
        ("paper_videocrafter2_gpt4o.yaml", VideoCrafter2Backbone, 12.0, 10),
        ("paper_lavie_clip_gpt4o.yaml", LaVieBackbone, 7.5, 5),
    ],
)
def test_example_is_the_papers_setting(name: str, cls: Any, cfg: float, n: int) -> None:
    config = load_config(EXAMPLES / name)
    assert config.backbone.type == cls.name
    options = cls.Options(**config.backbone.options)
    assert (options.height, options.width, options.num_frames) == (320, 512, 16)
    assert (config.sampler.num_steps, config.sampler.eta, config.sampler.cfg_scale) == (50, 1.0, cfg)
    g = config.guidance
    assert (g.method, g.key_frames) == ("free2guide", [0, 5, 10, 15])
    method = Free2Guide.Options(**g.options)  # the options are the method's (no stray or misspelt key)
    assert (method.num_candidates, method.start, method.num_guided_steps, method.lookahead) == (n, 0, 6, 0)
