"""Several prompts in one denoiser batch (batched conditioning) and every search method end to end on shapes."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from f2g_core.testing import assert_close_to_scale


def _config(method: str, **options: Any) -> dict[str, Any]:
    return {
        "backbone": {"type": "shapes"},
        "rewards": [{"type": "shapes-judge"}],
        "sampler": {"num_steps": 6, "eta": 1.0},
        "guidance": {"method": method, "options": options},
        "output": {"formats": ["gif"]},
    }


ONE_AT_A_TIME_ULPS = 8192  # worst seen: 851 (shapes, SSE kernels); docs/testing.md
METHODS = [
    ("free2guide", {"num_candidates": 3, "num_guided_steps": 3}),
    ("free2guide", {"num_candidates": 2, "num_guided_steps": 2, "lookahead": 1, "initial_candidates": True}),
    ("best-of-n", {"num_candidates": 3}),
    ("smc", {"num_particles": 3, "lam": 2.0}),
    ("beam", {"num_beams": 2, "num_candidates": 2, "num_guided_steps": 3}),
]


@pytest.mark.numerics
@pytest.mark.parametrize(("method", "options"), METHODS)
def test_every_method_runs_and_batched_videos_equal_one_at_a_time(
    shapes_plugins: Any, method: str, options: dict[str, Any]
) -> None:
    from f2g_core.pipeline import Pipeline

    with Pipeline.from_config(_config(method, **options), registry=shapes_plugins.registry) as pipeline:
        prompts = ["a red circle", "a yellow triangle above a green circle"]
        many = pipeline.generate_many(prompts, seeds=[0, 1])
        for result in many:
            alone = pipeline.generate(result.prompt, seed=result.seed)
            # a network's batched matmuls round differently with the batch size: equal up to float rounding,
            # and the search made the same choices (the analytic backbone's test asserts bit-identity)
            assert_close_to_scale(result.latents, alone.latents, ulps=ONE_AT_A_TIME_ULPS, what="latents")
            assert [s.selected for s in result.trace.steps] == [s.selected for s in alone.trace.steps]
            totals = result.trace.totals()
            assert totals["model_calls"] == pipeline.sampler.model_calls(6) == alone.trace.totals()["model_calls"]
            assert all(step.parents for step in result.trace.steps) and totals["guided_steps"] > 0


@pytest.mark.numerics
def test_stacked_conditioning_denoises_each_row_with_its_own_prompt(shapes_plugins: Any) -> None:
    from f2g_core.pipeline import Pipeline

    with Pipeline.from_config(_config("none"), registry=shapes_plugins.registry) as pipeline:
        pipeline.load()
        backbone = pipeline.backbone
        a, b = (backbone.encode_prompt(p, None, None) for p in ("a red circle", "a blue square"))
        schedule = backbone.schedule(6)
        x = torch.randn(3, *backbone.latent_shape(), generator=torch.Generator().manual_seed(0))
        mixed = backbone.denoise(x, schedule.level(2), backbone.stack_conditioning([a, b, a]))
        assert_close_to_scale(mixed[[0, 2]], backbone.denoise(x[[0, 2]], schedule.level(2), a), ulps=512)
        assert_close_to_scale(mixed[1:2], backbone.denoise(x[1:2], schedule.level(2), b), ulps=512)
        assert not torch.allclose(mixed[0], backbone.denoise(x[:1], schedule.level(2), b)[0])


@pytest.mark.parametrize("method", ["smc", "beam", "best-of-n", "free2guide", "prune", "draft", "none"])
def test_f2g_generate_runs_every_method_on_the_shipped_world(tmp_path: Any, method: str) -> None:
    import json

    from f2g_core.cli import app
    from typer.testing import CliRunner

    prompt = "a yellow triangle above a green circle"
    args = ["generate", prompt, "--method", method, "--steps", "6", "--out", str(tmp_path)]
    if method in ("free2guide", "beam"):
        args += ["--guided-steps", "3"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    (run,) = tmp_path.iterdir()
    trace = json.loads((run / "trace.json").read_text())
    assert trace["method"] == method and all("parents" in step for step in trace["steps"])
    assert trace["totals"]["planned_guided_steps"] >= (0 if method == "none" else 1)


def test_f2g_generate_prompts_file_and_seeds(tmp_path: Any) -> None:
    from f2g_core.cli import app
    from typer.testing import CliRunner

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# two prompts\na red circle\n\na blue square moving left\n")
    out = tmp_path / "runs"
    args = ["generate", "--prompts", str(prompts), "--seeds", "0-1", "--steps", "6", "-n", "2", "--out", str(out)]
    windowless = CliRunner().invoke(app, [*args, "--guided-steps", "2"])  # the default method (prune) has no window
    assert "--guided-steps: guidance method 'prune' has no guided window" in str(windowless.exception)
    done = CliRunner().invoke(app, [*args, "--method", "free2guide", "--guided-steps", "2"])
    assert done.exit_code == 0, done.output
    assert len(list(out.iterdir())) == 4 and done.output.count("model calls") == 4
    bad = CliRunner().invoke(app, ["generate", "--prompts", str(prompts), "--seeds", "x-1"])
    assert "--seeds 'x-1': use a range like 0-3" in str(bad.exception)
