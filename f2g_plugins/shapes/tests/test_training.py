"""The training commands run end to end at toy size, and the denoiser's positional structure does its job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from f2g_plugin_shapes.backbone import ShapesBackbone
from f2g_plugin_shapes.judge import rate_grids
from f2g_plugin_shapes.model_io import read_metadata
from f2g_plugin_shapes.nets import apply_rotary, rotary_tables


def test_rotary_scores_depend_only_on_relative_offsets() -> None:
    """Same query and key content everywhere: the score between two tokens is a function of their offset."""
    frames, grid, head_dim = 2, 8, 32
    cos, sin = rotary_tables(frames, grid, head_dim)
    torch.manual_seed(0)
    q = torch.randn(head_dim).expand(1, 1, frames * grid * grid, head_dim)
    k = torch.randn(head_dim).expand(1, 1, frames * grid * grid, head_dim)
    scores = (apply_rotary(q, cos, sin) @ apply_rotary(k, cos, sin).transpose(-1, -2))[0, 0]

    def index(t: int, y: int, x: int) -> int:
        return (t * grid + y) * grid + x

    # offset (dt, dy, dx) = (1, 0, -2): an object two cells to the left one token later
    a = scores[index(0, 3, 5), index(1, 3, 3)]
    b = scores[index(0, 6, 2), index(1, 6, 0)]
    c = scores[index(0, 3, 5), index(1, 3, 4)]
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-2)


def test_rotary_preserves_norms() -> None:
    cos, sin = rotary_tables(2, 8, 32)
    x = torch.randn(3, 4, 128, 32)
    assert torch.allclose(apply_rotary(x, cos, sin).norm(dim=-1), x.norm(dim=-1), atol=1e-4)


@pytest.mark.parametrize("bad", ["dim", "dim=x", "width=3"])
def test_train_rejects_bad_model_overrides(bad: str) -> None:
    from f2g_plugin_shapes.train import main

    with pytest.raises(SystemExit, match="field=INTEGER"):
        main(["--model", bad])


def test_train_command_writes_weights_the_backbone_loads(tmp_path: Path) -> None:
    from f2g_plugin_shapes.train import main

    out = tmp_path / "tiny.safetensors"
    args = ["--steps", "3", "--batch", "2", "--ae-videos", "4", "--threads", "1", "--out", str(out)]
    main([*args, "--model", "dim=32", "depth=1", "heads=2", "text_depth=1"])
    meta = read_metadata(out)
    assert meta["config"]["dim"] == 32 and meta["info"]["diffusion_steps"] == 3
    assert meta["info"]["schedule_shift"] == 6.0
    backbone = ShapesBackbone(ShapesBackbone.Options(weights=str(out)))
    backbone.load()
    cond = backbone.encode_prompt("a red circle", None, None)
    x = torch.randn(2, *backbone.latent_shape())
    x0 = backbone.denoise(x, backbone.schedule(4).level(0), cond)
    assert x0.shape == x.shape and torch.isfinite(x0).all()
    frames = backbone.decode(x0, [0, 15])
    assert frames.shape == (2, 2, 32, 32, 3)


def test_train_judge_command_writes_weights_the_judge_loads(tmp_path: Path) -> None:
    from f2g_core.images import key_frame_grid

    from f2g_plugin_shapes import render_prompt
    from f2g_plugin_shapes.train_judge import main

    out = tmp_path / "judge.safetensors"
    main(["--steps", "2", "--batch", "4", "--threads", "1", "--out", str(out)])
    grid = key_frame_grid(render_prompt("a red circle", 0)[[0, 5, 10, 15]])
    probs = rate_grids(["a red circle"], [grid], str(out))
    assert probs.shape == (1, 9)
    assert np.isclose(probs.sum(), 1.0, atol=1e-5)
