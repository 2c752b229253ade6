"""Regional torch.compile of the denoiser: same latents as eager, and how often a changing candidate batch recompiles;
attention backends passed to diffusers and checked."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from f2g_plugin_diffusers import tiny
from f2g_plugin_diffusers.wan import WanBackbone
from pydantic import ValidationError

SMALL = {"model": "tiny", "height": 32, "width": 32, "num_frames": 9, "max_sequence_length": 16, "device": "cpu"}
BATCHES = (3, 2, 5, 1)
"""Candidate batch sizes of successive steps, as a search method produces them (n candidates, then k survivors)."""


def _compare(compile_options: dict[str, Any], atol: float) -> int:
    """Denoise the same rows eagerly and compiled at each batch size; return the graphs dynamo compiled."""
    from torch._dynamo.utils import counters

    eager = WanBackbone(WanBackbone.Options(**SMALL), pipeline=tiny.wan())
    compiled = WanBackbone(WanBackbone.Options(**SMALL, compile=compile_options), pipeline=tiny.wan())
    compiled.load()
    blocks = compiled.pipe.transformer.blocks
    assert all(getattr(block, "_compiled_call_impl", None) is not None for block in blocks)  # regional: per block
    assert getattr(compiled.pipe.transformer, "_compiled_call_impl", None) is None  # not the whole model
    cond_eager, cond_compiled = eager.encode_prompt("a cat", None, 1.0), compiled.encode_prompt("a cat", None, 1.0)
    level = eager.schedule(4).level(1)
    torch._dynamo.reset()
    counters.clear()
    for n in BATCHES:
        x = torch.randn((n, *eager.latent_shape()), generator=torch.Generator().manual_seed(n))
        torch.testing.assert_close(
            compiled.denoise(x, level, cond_compiled), eager.denoise(x, level, cond_eager), rtol=0, atol=atol
        )
    return int(counters["stats"]["unique_graphs"])


def test_regional_compile_equals_eager_and_recompiles_once_when_the_batch_changes() -> None:
    # The 'eager' backend captures graphs through dynamo exactly as inductor does (same graphs, guards and
    # recompiles) without lowering them, so it counts recompilations cheaply; the inductor run is heavy.
    graphs = _compare({"backend": "eager"}, atol=0.0)
    # One graph for the first batch, one recompile at the first new size (torch then marks the batch dynamic) that
    # later sizes reuse, and one for a single row: dynamo always specialises sizes 0 and 1.
    assert graphs == 3, graphs


@pytest.mark.heavy
def test_inductor_regional_compile_matches_eager_within_float_tolerance() -> None:
    # inductor reorders float32 reductions: measured max |Δ| ≈ 3e-6 on x̂0 of magnitude ~4
    assert _compare({"backend": "inductor", "dynamic": True}, atol=1e-4) <= 3


def test_attention_backend_is_passed_to_diffusers_and_checked() -> None:
    pipe = tiny.wan()
    WanBackbone(WanBackbone.Options(**SMALL, attention_backend="native"), pipeline=pipe).load()
    processor = pipe.transformer.blocks[0].attn1.processor
    assert str(getattr(processor, "_attention_backend", "")) in ("native", "AttentionBackendName.NATIVE")
    with pytest.raises(ValidationError, match=r"'nope' is not a diffusers attention backend; use one of .*native"):
        WanBackbone.Options(**SMALL, attention_backend="nope")


def test_an_attention_backend_whose_package_is_missing_fails_with_its_fix() -> None:
    from diffusers.models import attention_dispatch

    if attention_dispatch._CAN_USE_FLASH_ATTN:
        pytest.skip("flash-attn is installed here")
    with pytest.raises(ValidationError, match=r"attention_backend 'flash' cannot run here: .*flash-attn"):
        WanBackbone.Options(**SMALL, attention_backend="flash")


def test_compile_options_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="extra"):
        WanBackbone.Options(**SMALL, compile={"mode": "default", "regionl": True})
