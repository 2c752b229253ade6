"""An out-of-memory error inside a chunk halves the chunk and retries once, noted in the trace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from f2g_core.errors import ComponentError
from f2g_core.pipeline import Pipeline
from f2g_core.registry import Registry

pytestmark = pytest.mark.plugin_independent  # never loads the installed plugins (tests/conftest.py)


def _oom_above(backbone: Any, rows: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    denoise = backbone.denoise

    def limited(latents: torch.Tensor, *args: Any) -> torch.Tensor:
        seen.append(latents.shape[0])
        if latents.shape[0] > rows:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return denoise(latents, *args)

    monkeypatch.setattr(backbone, "denoise", limited)
    return seen


def test_oom_halves_the_chunk_and_retries_once(
    f2g_registry: Registry, gmm_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gmm_config["guidance"] = {"method": "best-of-n", "options": {"num_candidates": 4}, "chunk_size": 4}
    with Pipeline.from_config(gmm_config, registry=f2g_registry) as pipeline:
        pipeline.load()
        seen = _oom_above(pipeline.backbone, 2, monkeypatch)
        result = pipeline.generate()
    assert seen[:3] == [4, 2, 2]  # the failed call, then two halves; later calls stay at 2
    assert max(seen[3:]) == 2
    events = [event for event in result.trace.events if "out of memory" in event]
    assert events == ["level 0: out of memory at 4 samples per denoiser call; retried with 2"]
    assert np.isfinite(result.video).all()


def test_a_second_oom_propagates(
    f2g_registry: Registry, gmm_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gmm_config["guidance"] = {"method": "best-of-n", "options": {"num_candidates": 4}, "chunk_size": 4}
    with Pipeline.from_config(gmm_config, registry=f2g_registry) as pipeline:
        pipeline.load()
        _oom_above(pipeline.backbone, 1, monkeypatch)
        with pytest.raises(ComponentError, match=r"backbone 'gaussian-mixture'.*OutOfMemoryError") as caught:
            pipeline.generate()  # one line naming the backbone, the out-of-memory error kept as the cause
        assert isinstance(caught.value.__cause__, torch.OutOfMemoryError)
